// i18n.js — the English and French catalogues, the page's language (switched
// without a reload; <html lang> follows) and every date, time, duration and
// number shown, through Intl with en-CA / fr-CA.

import en from "./i18n/en.js";
import fr from "./i18n/fr.js";

const CATALOGUES = { en, fr };
const LOCALES = { en: "en-CA", fr: "fr-CA" };
const ATTRIBUTES = [
  ["i18nValue", "value"],
  ["i18nLabel", "aria-label"],
];

let lang = "en";
const listeners = [];

export const getLang = () => lang;
export const otherLang = () => (lang === "fr" ? "en" : "fr");
const locale = () => LOCALES[lang];

/** The text of `key` in the current language, with `{name}` filled from `vars`. */
export function t(key, vars) {
  const text = CATALOGUES[lang][key] ?? key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

/** A code in words (`prefix.code` in the catalogue), else the code as is or, with `spaced`, with `_` as spaces. */
export function label(prefix, code, spaced = false) {
  if (code === null || code === undefined || code === "") return "";
  const text = CATALOGUES[lang][`${prefix}.${code}`];
  if (text !== undefined) return text;
  return spaced ? String(code).replaceAll("_", " ") : String(code);
}

/** Whether the catalogue has `prefix.code`. */
export const known = (prefix, code) => `${prefix}.${code}` in CATALOGUES[lang];

/** Every catalogue's text for `key` (to read back a word typed in either language). */
export const allTexts = (key) => Object.values(CATALOGUES).map((c) => c[key]);

/** Switches the page to `next` ("en" or "fr") and tells every listener. */
export function setLang(next) {
  lang = next === "fr" ? "fr" : "en";
  document.documentElement.lang = lang;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const [data, attr] of ATTRIBUTES) {
    const selector = `[data-${data.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}]`;
    for (const node of document.querySelectorAll(selector)) node.setAttribute(attr, t(node.dataset[data]));
  }
  document.title = t("app.title");
  for (const listener of listeners) listener(lang);
}

export const onLangChange = (listener) => listeners.push(listener);

/** A clock time with seconds, e.g. 10:42:05 (fr: 10 h 42 min 05 s). */
export const fmtTime = (ms) =>
  new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" }).format(ms);

/** A date and time, e.g. Nov 2, 2026, 10:42. */
export const fmtDateTime = (ms) =>
  new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short", hourCycle: "h23" }).format(ms);

/** A calendar date, from epoch ms or "YYYY-MM-DD" (read as a local date). */
export function fmtDate(value) {
  let date = new Date(value);
  if (typeof value === "string") {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
    if (!m) return value;
    date = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  }
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium" }).format(date);
}

/** Seconds as a ticking clock, m:ss (mm:ss with `padded`; h:mm:ss past an hour). */
export function fmtClock(seconds, padded = false) {
  const s = Math.max(0, Math.floor(seconds));
  const two = new Intl.NumberFormat(locale(), { minimumIntegerDigits: 2, useGrouping: false });
  const one = new Intl.NumberFormat(locale(), { useGrouping: false });
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = two.format(s % 60);
  return h ? `${one.format(h)}:${two.format(m)}:${rest}` : `${(padded ? two : one).format(m)}:${rest}`;
}

/** Seconds in words, e.g. 1 min 5 s. */
export function fmtDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const unit = (u, n) => new Intl.NumberFormat(locale(), { style: "unit", unit: u, unitDisplay: "short" }).format(n);
  const m = Math.floor(s / 60);
  return m ? `${unit("minute", m)} ${unit("second", s % 60)}` : unit("second", s);
}

/** Today's local date as YYYY-MM-DD (what a date input holds). */
export function today() {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}
