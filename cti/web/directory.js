// directory.js — the community resource directory in the call log: a search
// (words in English or French; near the caller's region, a postal area or
// anywhere; a language offered; open now or at a date and time; a taxonomy
// code; eligibility words) against GET /api/directory/search, its results
// (hours on the day searched, open or closed then, languages, distance) and
// a Refer button that adds a service to the log's referrals by its id. The
// search and its filters are part of the call's draft: form.js keeps them
// with the rest of the log (collect / fill).

import { $, el } from "./dom.js";
import { t, label, known, getLang, today } from "./i18n.js";
import { api } from "./api.js";
import { regionName, errorText } from "./session.js";

const LOCALES = { en: "en-CA", fr: "fr-CA" };
const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const LIMIT = 20;
// What a 400 names (the text before its first colon) → the control it is about.
const CONTROLS = {
  q: "dir-q",
  near: "dir-postal",
  lang: "dir-lang",
  open: "dir-open-at",
  code: "dir-code",
  eligibility: "dir-elig",
};
const FSA = /^([a-z]\d[a-z])(\s?\d[a-z]\d)?$/i;

let hooks = { callId: () => null, refer: () => "closed", needCodes: () => [], referredIds: () => [] };
let call = null; // the summary of the call whose log is open (region, language)
let shown = null; // {answer, mode: "now"|"at"|"none", callId}: the results on screen
let searchSeq = 0;
let status = null; // () => the status line's text in the current language
let prefilled = ""; // the postal area last copied from the log's area field
let codeTimer = null;

/**
 * hooks: callId() the log shown; refer({name, phone, code, service_id}) →
 * "added" | "duplicate" | "closed"; needCodes() the log's need codes;
 * referredIds() the service ids already in its referrals.
 */
export function initDirectory(given) {
  hooks = given;
  $("dir-search").addEventListener("click", search);
  $("directory").addEventListener("keydown", (ev) => {
    // Enter in any one-line field of the search runs it (form.js keeps it
    // from sending the log).
    const target = ev.target;
    if (ev.key !== "Enter" || !(target instanceof HTMLInputElement)) return;
    if (target.type === "checkbox" || ev.isComposing) return;
    ev.preventDefault();
    search();
  });
  $("dir-near").addEventListener("change", () => {
    if ($("dir-near").value === "postal" && !$("dir-postal").value) $("dir-postal").value = areaFsa();
    renderNear();
  });
  $("dir-open-at").addEventListener("input", renderOpen);
  $("dir-results").addEventListener("click", (ev) => {
    const button = ev.target.closest(".dir-refer");
    if (button) refer(Number(button.dataset.index));
  });
  // The caller's postal area, once logged, is where "near a postal area" starts.
  $("area").addEventListener("input", () => {
    const fsa = areaFsa();
    const box = $("dir-postal");
    if (fsa && (!box.value || box.value === prefilled)) box.value = fsa;
    prefilled = fsa || prefilled;
  });
  $("dir-code").addEventListener("focus", () => codeChoices());
  $("dir-code").addEventListener("input", () => {
    clearTimeout(codeTimer);
    codeTimer = setTimeout(codeChoices, 200);
  });
}

/** The search and its filters, for the draft. */
export function collect() {
  return {
    q: $("dir-q").value,
    near: $("dir-near").value,
    postal: $("dir-postal").value,
    lang: $("dir-lang").value,
    open_now: $("dir-open-now").checked,
    open_at: $("dir-open-at").value,
    code: $("dir-code").value,
    eligibility: $("dir-elig").value,
  };
}

/** The defaults for a call: its region, its language, open now. */
function defaults(summary, area) {
  const fsa = FSA.exec((area ?? "").trim());
  return {
    q: "",
    near: summary?.region ? "region" : "anywhere",
    postal: fsa ? fsa[1].toUpperCase() : "",
    lang: summary?.language === "fr" || summary?.language === "en" ? summary.language : "",
    open_now: true,
    open_at: "",
    code: "",
    eligibility: "",
  };
}

/** Puts a log's search back (from its draft, or the call's defaults); no results yet. */
export function fill(saved, summary, area) {
  call = summary ?? null;
  shown = null;
  searchSeq++;
  const d = { ...defaults(summary, area), ...(saved ?? {}) };
  prefilled = d.postal;
  renderNearOptions();
  renderLangOptions();
  $("dir-q").value = d.q;
  const near = ["region", "postal", "anywhere"].includes(d.near) ? d.near : "anywhere";
  $("dir-near").value = near === "region" && !call?.region ? "anywhere" : near;
  $("dir-postal").value = d.postal;
  $("dir-lang").value = ["", "en", "fr"].includes(d.lang) ? d.lang : "";
  $("dir-open-now").checked = Boolean(d.open_now);
  $("dir-open-at").value = d.open_at;
  $("dir-code").value = d.code;
  $("dir-elig").value = d.eligibility;
  clearErrors();
  renderNear();
  renderOpen();
  setStatus(null);
  $("dir-announce").textContent = "";
  $("dir-results").replaceChildren();
  $("dir-from").textContent = "";
}

/** The call changed (answered, its region corrected): "the caller's region" follows it. */
export function setCall(summary) {
  call = summary ?? null;
  const chosen = $("dir-near").value;
  renderNearOptions();
  $("dir-near").value = chosen === "region" && !call?.region ? "anywhere" : chosen;
  renderNear();
}

/** Redraws what JavaScript wrote (after a language switch). */
export function relabel() {
  const chosen = $("dir-near").value;
  renderLangOptions();
  renderNearOptions();
  $("dir-near").value = chosen;
  if (shown) renderResults(false);
  $("dir-status").textContent = status ? status() : "";
}

/** The referrals changed: each result says whether it is among them. */
export function referralsChanged() {
  const ids = new Set(hooks.referredIds());
  for (const item of $("dir-results").children) {
    item.querySelector(".dir-referred").hidden = !ids.has(item.dataset.serviceId);
  }
}

/** The languages to put first: the call's two, or none. */
function renderLangOptions() {
  const chosen = $("dir-lang").value;
  $("dir-lang").replaceChildren(
    el("option", { value: "", text: t("directory.lang_any") }),
    el("option", { value: "fr", text: t("directory.lang_fr") }),
    el("option", { value: "en", text: t("directory.lang_en") }),
  );
  $("dir-lang").value = chosen;
}

function renderNearOptions() {
  const region = call?.region ? regionName(call.region) : t("common.unknown_region");
  $("dir-near").replaceChildren(
    el("option", { value: "region", disabled: !call?.region, text: t("directory.near_region", { region }) }),
    el("option", { value: "postal", text: t("directory.near_postal") }),
    el("option", { value: "anywhere", text: t("directory.near_anywhere") }),
  );
}

function renderNear() {
  $("dir-postal-field").hidden = $("dir-near").value !== "postal";
}

/** A date and time to be open at replaces "open now". */
function renderOpen() {
  $("dir-open-now").disabled = Boolean($("dir-open-at").value);
}

function areaFsa() {
  const fsa = FSA.exec($("area").value.trim());
  return fsa ? fsa[1].toUpperCase() : "";
}

/** The query string of the search as the page's fields say it. */
function query(callId) {
  const p = new URLSearchParams();
  const q = $("dir-q").value.trim();
  if (q) p.set("q", q);
  const near = $("dir-near").value;
  if (near === "region" && call?.region) p.set("near", `region:${call.region}`);
  else if (near === "postal") p.set("near", `postal:${$("dir-postal").value.trim().toUpperCase()}`);
  if ($("dir-lang").value) p.set("lang", $("dir-lang").value);
  if ($("dir-open-at").value) p.set("open", $("dir-open-at").value);
  else if ($("dir-open-now").checked) p.set("open", "now");
  const code = $("dir-code").value.trim();
  if (code) p.set("code", code);
  const eligibility = $("dir-elig").value.trim();
  if (eligibility) p.set("eligibility", eligibility);
  p.set("call_id", callId);
  p.set("limit", String(LIMIT));
  return p;
}

/** Runs the search; the results replace the last ones. */
export async function search() {
  const callId = hooks.callId();
  if (!callId) return;
  clearErrors();
  const p = query(callId);
  const mode = p.get("open") === "now" ? "now" : p.has("open") ? "at" : "none";
  const mine = ++searchSeq;
  setStatus(() => t("directory.searching"));
  $("dir-results").setAttribute("aria-busy", "true");
  try {
    const answer = await api("GET", `/api/directory/search?${p}`);
    if (mine !== searchSeq || hooks.callId() !== callId) return;
    shown = { answer: answer ?? { results: [] }, mode, callId };
    renderResults(true);
    // The answer in sight (the focus stays where it was).
    $("directory").scrollIntoView({ block: "start" });
  } catch (err) {
    if (mine !== searchSeq) return;
    setStatus(null);
    if (err.status === 400) showError(err.message);
    else if (err.status !== 401) $("dir-error").textContent = errorText(err);
  } finally {
    if (mine === searchSeq) $("dir-results").removeAttribute("aria-busy");
  }
}

/** A 400's reason next to the field it names (the text before its colon), else under the search. */
function showError(reason) {
  const param = /^(\w+)\s*:/.exec(reason)?.[1];
  const control = param && CONTROLS[param] ? $(CONTROLS[param]) : null;
  if (!control) {
    $("dir-error").textContent = reason;
    return;
  }
  // A place the server refused is shown where it was typed: the postal area,
  // or the choice of place when that is not a postal area.
  const target = param === "near" && $("dir-near").value !== "postal" ? $("dir-near") : control;
  const message = $(`err-dir-${param}`);
  message.textContent = reason;
  target.setAttribute("aria-invalid", "true");
  const ids = new Set((target.getAttribute("aria-describedby") ?? "").split(" ").filter(Boolean));
  ids.add(message.id);
  target.setAttribute("aria-describedby", [...ids].join(" "));
  target.focus();
}

function clearErrors() {
  const section = $("directory");
  for (const node of section.querySelectorAll(".field-error")) node.textContent = "";
  for (const node of section.querySelectorAll("[aria-invalid]")) {
    node.removeAttribute("aria-invalid");
    const ids = (node.getAttribute("aria-describedby") ?? "").split(" ").filter((id) => id && !id.startsWith("err-dir-"));
    if (ids.length) node.setAttribute("aria-describedby", ids.join(" "));
    else node.removeAttribute("aria-describedby");
  }
  $("dir-error").textContent = "";
}

/** The status line; a new search says its count again even when it is the same. */
function setStatus(text, again = false) {
  status = text;
  const node = $("dir-status");
  if (!again) {
    node.textContent = text ? text() : "";
    return;
  }
  node.textContent = "";
  requestAnimationFrame(() => {
    node.textContent = status ? status() : "";
  });
}

function renderResults(fresh) {
  const { answer, mode } = shown;
  const results = Array.isArray(answer.results) ? answer.results : [];
  const ids = new Set(hooks.referredIds());
  $("dir-results").replaceChildren(...results.map((r, i) => resultItem(r, i, answer.at, mode, ids.has(r.service_id))));
  $("dir-from").textContent = answer.near?.label ? t("directory.from", { place: placeName(answer.near.label) }) : "";
  const count = results.length;
  const text = () => (count === 0 ? t("directory.none") : count === 1 ? t("directory.found_one") : t("directory.found", { count: fmtNumber(count) }));
  setStatus(text, fresh);
}

function placeName(place) {
  return known("region", place) ? regionName(place) : String(place);
}

function resultItem(r, i, at, mode, referred) {
  const nameId = `dir-name-${i}`;
  const distance = typeof r.distance_km === "number" ? t("directory.distance", { distance: fmtKm(r.distance_km) }) : "";
  const facts = [
    r.phone ? fact("directory.phone", el("a", { href: `tel:${r.phone.replace(/[^\d+]/g, "")}`, text: r.phone })) : null,
    r.address || distance
      ? fact("directory.address", r.address ? el("span", { class: "dir-data", text: r.address }) : null, distance && r.address ? ` (${distance})` : distance)
      : null,
    fact("directory.hours", hoursLine(r, at), badge(r.open, at, mode), r.hours_note && r.hours?.length ? el("span", { class: "dir-note dir-data", text: r.hours_note }) : null),
    fact("directory.languages", (r.languages ?? []).map(languageName).join(", ") || "—"),
    r.eligibility ? fact("directory.eligibility_fact", el("span", { class: "dir-data", text: r.eligibility })) : null,
  ];
  return el(
    "li",
    { class: "dir-result", "data-service-id": r.service_id },
    // The directory's own words (class dir-data) are as its publisher wrote them.
    el("h5", { id: nameId, class: "dir-name dir-data", text: r.name }),
    r.alternate_name ? el("p", { class: "dir-alt dir-data", text: r.alternate_name }) : null,
    r.organization ? el("p", { class: "dir-org dir-data", text: r.organization }) : null,
    r.description ? el("p", { class: "dir-desc dir-data", text: r.description }) : null,
    el("dl", { class: "dir-facts" }, facts),
    el(
      "div",
      { class: "dir-actions" },
      el("button", {
        type: "button",
        id: `dir-refer-${i}`,
        class: "small dir-refer",
        "data-index": i,
        "aria-label": t("directory.refer_label", { name: r.name }),
        text: t("directory.refer"),
      }),
      el("span", { class: "badge dir-referred", hidden: !referred, text: t("directory.in_referrals") }),
      r.url ? el("a", { href: r.url, target: "_blank", rel: "noopener noreferrer", "aria-label": t("directory.website_label", { name: r.name }), text: t("directory.website") }) : null,
    ),
  );
}

function fact(key, ...value) {
  return el("div", { class: "fact" }, el("dt", { text: t(key) }), el("dd", {}, ...value));
}

/** "Open now" / "Closed now", or open or closed at the time searched; nothing when the hours are not known. */
function badge(open, at, mode) {
  if (open !== true && open !== false) return null;
  const now = mode !== "at";
  const key = `directory.${open ? "open" : "closed"}_badge_${now ? "now" : "at"}`;
  return el("span", { class: `badge ${open ? "dir-open" : "dir-closed"}`, text: t(key, { when: now ? "" : fmtWhen(at) }) });
}

/** The hours on the day searched: "Today 09:00–17:00", "Wednesday 09:00–12:00, 13:00–16:00", "Closed today"… */
function hoursLine(r, at) {
  const hours = Array.isArray(r.hours) ? r.hours : [];
  if (!hours.length) return r.hours_note ? el("span", { class: "dir-data", text: `${r.hours_note} ` }) : `${t("directory.hours_unknown")} `;
  const date = parseAt(at);
  const isToday = !date || date.iso === today();
  const weekday = date ? DAYS[date.weekday] : DAYS[new Date().getDay()];
  const day = date ? fmtWeekday(date) : "";
  const spans = hours.filter((h) => (h.days ?? []).includes(weekday)).map((h) => `${fmtHm(h.opens)}–${fmtHm(h.closes)}`);
  if (!spans.length) return `${isToday ? t("directory.closed_today") : t("directory.closed_on", { day })} `;
  return `${isToday ? t("directory.hours_today", { hours: spans.join(", ") }) : t("directory.hours_on", { day, hours: spans.join(", ") })} `;
}

/** "2026-12-09T10:30" (Ontario time, as the server says it) → its parts. */
function parseAt(at) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(at ?? "");
  if (!m) return null;
  const [y, mo, d, h, mi] = m.slice(1).map(Number);
  return { iso: `${m[1]}-${m[2]}-${m[3]}`, y, mo, d, h, mi, weekday: new Date(Date.UTC(y, mo - 1, d)).getUTCDay() };
}

const locale = () => LOCALES[getLang()] ?? "en-CA";

function fmtWeekday(date) {
  return new Intl.DateTimeFormat(locale(), { weekday: "long", timeZone: "UTC" }).format(Date.UTC(date.y, date.mo - 1, date.d));
}

/** A day and time searched, e.g. "Wed., Dec. 9, 10:30". */
function fmtWhen(at) {
  const date = parseAt(at);
  if (!date) return at ?? "";
  return new Intl.DateTimeFormat(locale(), { weekday: "short", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: "UTC" }).format(
    Date.UTC(date.y, date.mo - 1, date.d, date.h, date.mi),
  );
}

/** "09:00" as the page's language writes a time (fr: 09 h 00). */
function fmtHm(hm) {
  const m = /^(\d{1,2}):(\d{2})/.exec(hm ?? "");
  if (!m) return hm ?? "";
  if (m[1] === "24") return getLang() === "fr" ? "24 h" : "24:00";
  return new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: "UTC" }).format(Date.UTC(2026, 0, 1, Number(m[1]), Number(m[2])));
}

const fmtKm = (km) => new Intl.NumberFormat(locale(), { style: "unit", unit: "kilometer", maximumFractionDigits: 1 }).format(km);
const fmtNumber = (n) => new Intl.NumberFormat(locale()).format(n);

function languageName(code) {
  if (known("language", code)) return label("language", code);
  try {
    return new Intl.DisplayNames([locale()], { type: "language" }).of(code) ?? code;
  } catch {
    return code;
  }
}

// ——— Refer ———

/** The service's taxonomy code for the log: its first under one of the log's needs, else its first. */
function referralCode(codes, needs) {
  return codes.find((c) => needs.some((n) => n && c.startsWith(n))) ?? codes[0] ?? null;
}

function refer(i) {
  const r = shown?.answer?.results?.[i];
  if (!r) return;
  const code = referralCode(Array.isArray(r.codes) ? r.codes : [], hooks.needCodes());
  const outcome = hooks.refer({ name: r.name, phone: r.phone ?? "", code, service_id: r.service_id });
  if (outcome === "closed") return;
  const node = $("dir-announce");
  node.textContent = "";
  requestAnimationFrame(() => {
    node.textContent = t(outcome === "added" ? "directory.referred" : "directory.already", { name: r.name });
  });
  referralsChanged();
}

// ——— The taxonomy code filter: the log's needs, then terms as typed ———

async function codeChoices() {
  const typed = $("dir-code").value.trim();
  const options = new Map(hooks.needCodes().filter(Boolean).map((code) => [code, ""]));
  if (typed.length >= 2) {
    try {
      const rows = await api("GET", `/api/taxonomy?q=${encodeURIComponent(typed)}&limit=10`);
      for (const row of Array.isArray(rows) ? rows : []) {
        options.set(row.code, (getLang() === "fr" ? row.name_fr || row.name_en : row.name_en || row.name_fr) ?? "");
      }
    } catch {
      // the code can still be typed in full
    }
  }
  $("dir-code-choices").replaceChildren(...[...options].map(([code, name]) => el("option", { value: code, label: name ? `${code} ${name}` : code })));
}
