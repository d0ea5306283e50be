// dom.js — the two DOM helpers every module of the desk uses.

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/**
 * A new element: `props` are attributes, except `class`, `text` (its text)
 * and `on<event>` (a listener); null, undefined and false props are skipped,
 * true is an empty attribute. Children may be nodes, strings or arrays.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}
