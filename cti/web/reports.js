// reports.js — the /reports page (supervisors and operations staff): log in,
// choose a report and its period, see it as a chart and a table, download
// its CSV. Every choice is kept in the address (history.replaceState), so a
// reload or a new login comes back to the same report.

import { $, el } from "./dom.js";
import { t, label, known, setLang, getLang, otherLang, onLangChange, fmtDate, fmtDuration, today } from "./i18n.js";
import { api, apiBlob, getToken, setToken, onSessionExpired } from "./api.js";
import { barChart } from "./chart.js";
import { initLogin, relabelLogin } from "./login.js";

const LANG_KEY = "frontdoor.lang";
const KINDS = ["needs", "unmet", "service-level", "tracked", "follow-ups", "incident", "demographics"];
/** The form's optional fields each report takes (the others are hidden and not sent). */
const FIELDS = {
  needs: ["centre", "region", "by", "split"],
  unmet: ["centre", "region", "by"],
  "service-level": ["centre", "region", "by"],
  tracked: ["centre", "region", "by"],
  "follow-ups": ["centre", "region", "by"],
  incident: ["tag", "centre", "region", "by"],
  demographics: ["centre", "region", "by"],
};
const OPTIONAL = ["tag", "centre", "region", "by", "split"];
const NUMERIC = new Set(["count", "percent", "seconds"]);
/** The most bars in one chart: the largest 15, or the latest periods in order. */
const TOP_BARS = 15;
const PERIOD_BARS = 62;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
/** The columns whose empty value means "not known". */
const UNKNOWN = new Set(["region", "centre", "queue", "navigator", "value"]);

let view = null;
let me = null; // GET /api/me
let meta = null; // GET /api/reports
let loading = false;
let reloadWhenDone = false; // the language changed while a report was loading
let shown = null; // {state, report}: the report on the page
let statusText = null;
let reportError = null;
let downloadText = null;
let fieldErrors = {}; // field → () => text
let applyServerLanguage = true; // the account's language counts unless chosen on the login form

function start() {
  const stored = localStorage.getItem(LANG_KEY);
  setLang(stored ?? (navigator.language?.toLowerCase().startsWith("fr") ? "fr" : "en"));
  onSessionExpired(sessionExpired);
  onLangChange(relabel);
  relabel();

  $("lang-toggle").addEventListener("click", toggleLanguage);
  initLogin({ signedIn, words: errorWords });
  $("logout").addEventListener("click", logout);
  $("report-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    show({ focus: true });
  });
  $("report-form").addEventListener("input", formChanged);
  $("report-form").addEventListener("change", formChanged);
  $("download").addEventListener("click", download);

  Object.defineProperty(window, "frontdoorReports", {
    value: Object.freeze({
      /** The page is showing the form, with nothing loading. */
      get ready() {
        return view === "reports" && meta !== null && !loading;
      },
      /** The last report shown (the API's JSON). */
      get lastReport() {
        return shown && structuredClone(shown.report);
      },
      get view() {
        return view;
      },
    }),
  });

  if (getToken()) enter();
  else showView("login");
}

// ——— Views ———

function showView(name) {
  view = name;
  $("page-loading").hidden = true;
  for (const v of ["login", "denied", "reports"]) $(`${v}-view`).hidden = v !== name;
  const inside = name !== "login";
  $("me").hidden = $("logout").hidden = !inside;
  $("board-link").hidden = name !== "reports";
  renderMe();
  if (name === "login") {
    if (me?.username) $("username").value = me.username;
    ($("username").value ? $("password") : $("username")).focus();
  } else {
    $(`${name}-title`).focus();
  }
}

/** With a token: who this is, then the reports' choices; a report named in the address is shown. */
async function enter() {
  try {
    me = await api("GET", "/api/me");
  } catch (err) {
    if (err.status === 401) return; // the login form is shown
    me = null;
    showReports();
    setReportError(() => errorWords(err));
    return;
  }
  if (applyServerLanguage && me.ui_language && me.ui_language !== getLang()) {
    setLang(me.ui_language);
    localStorage.setItem(LANG_KEY, me.ui_language);
  }
  applyServerLanguage = true;
  if (me.role === "navigator") {
    showView("denied");
    return;
  }
  try {
    meta = await api("GET", "/api/reports");
  } catch (err) {
    if (err.status === 401) return;
    if (err.status === 403) {
      showView("denied");
      return;
    }
    // The form still works with what the page knows; the error says why the lists are short.
    meta = { kinds: KINDS, centres: [], regions: [], incidents: [], suppress_below: null, today: today() };
    showReports();
    setReportError(() => errorWords(err));
    return;
  }
  showReports();
}

function showReports() {
  meta ??= { kinds: KINDS, centres: [], regions: [], incidents: [], suppress_below: null, today: today() };
  buildForm();
  const asked = readAddress();
  showView("reports");
  if (asked) show({ focus: false, quiet: true });
}

async function signedIn() {
  $("login-expired").hidden = true;
  if (!applyServerLanguage) api("PUT", "/api/me/language", { language: getLang() }).catch(() => {});
  await enter();
}

/** Any 401: log in again here; the choices stay in the address and the form. */
function sessionExpired() {
  if (view === "login") return;
  setToken(null);
  applyServerLanguage = true;
  $("login-expired").hidden = false;
  showView("login");
}

async function logout() {
  try {
    await api("POST", "/api/logout");
  } catch {
    // the token goes from this tab either way
  }
  setToken(null);
  me = null;
  meta = null;
  shown = null;
  applyServerLanguage = true;
  $("result").hidden = true;
  setReportError(null);
  setStatus(null);
  $("login-expired").hidden = true;
  showView("login");
}

// ——— Language ———

function toggleLanguage() {
  const next = otherLang();
  setLang(next);
  localStorage.setItem(LANG_KEY, next);
  if (me && getToken()) api("PUT", "/api/me/language", { language: next }).catch(() => {});
  else applyServerLanguage = false;
}

function relabel() {
  document.title = t("reports.page_title");
  const toggle = $("lang-toggle");
  toggle.textContent = t("lang.other");
  toggle.lang = otherLang();
  renderMe();
  relabelLogin();
  if (meta) buildForm();
  showFieldErrors(false);
  $("status").textContent = statusText ? statusText() : "";
  $("report-error").textContent = reportError ? reportError() : "";
  $("download-status").textContent = downloadText ? downloadText() : "";
  if (shown) {
    render();
    // The taxonomy's names come in the page's language: ask again.
    if (loading) reloadWhenDone = true;
    else if (view === "reports" && getToken()) load(shown.state, { focus: false });
  }
}

function renderMe() {
  $("me").textContent = me ? [me.username, me.centre ? centreName(me.centre) : null].filter(Boolean).join(" · ") : "";
}

// ——— The form ———

/** The form's lists from the API's answer, keeping what was chosen. */
function buildForm() {
  const kept = formState();
  const kinds = (meta.kinds?.length ? meta.kinds : KINDS).filter((k) => k in FIELDS);
  fill("kind", kinds.map((k) => [k, kindName(k)]));
  fill("centre", [["", t("reports.all_centres")], ...(meta.centres ?? []).map((c) => [c.id, centreName(c.id)])]);
  fill("region", [["", t("reports.all_regions")], ...(meta.regions ?? []).map((r) => [r, regionName(r)])]);
  const incidents = meta.incidents ?? [];
  fill("tag", [["", t(incidents.length ? "choice.choose" : "reports.no_incidents")], ...incidents.map((i) => [i, i])]);
  for (const [id, value] of Object.entries(kept)) setField(id, value);
  if (!$("from").value || !$("to").value) {
    const [from, to] = previousMonth(meta.today ?? today());
    if (!$("from").value) $("from").value = from;
    if (!$("to").value) $("to").value = to;
  }
  showRelevant();
}

/** Replaces a select's options by [value, text] pairs. */
function fill(id, options) {
  $(id).replaceChildren(...options.map(([value, text]) => new Option(text, value)));
}

/** Sets a field if the value is one it can take; returns whether it did. */
function setField(id, value) {
  const field = $(id);
  if (value === undefined || value === null) return false;
  if (field.tagName === "SELECT") {
    if (![...field.options].some((o) => o.value === value)) return false;
  } else if (value !== "" && !DATE.test(value)) return false;
  field.value = value;
  return true;
}

/** The first and last day of the calendar month before `day` (YYYY-MM-DD). */
function previousMonth(day) {
  const [y, m] = day.split("-").map(Number);
  const first = new Date(Date.UTC(y, m - 2, 1));
  const last = new Date(Date.UTC(y, m - 1, 0));
  return [first, last].map((d) => d.toISOString().slice(0, 10));
}

/** What the form holds now. */
function formState() {
  const state = { kind: $("kind").value, from: $("from").value, to: $("to").value };
  for (const id of OPTIONAL) state[id] = $(id).value;
  return state;
}

/** Only the fields the chosen report takes are shown. */
function showRelevant() {
  const kind = $("kind").value;
  const wanted = FIELDS[kind] ?? [];
  for (const id of OPTIONAL) {
    const box = document.querySelector(`.field[data-for="${id}"]`);
    box.hidden = !wanted.includes(id);
  }
  $("kind-help").textContent = kind ? t(`reports.help.${kind}`) : "";
}

function formChanged(ev) {
  if (ev.target.id === "kind") {
    // An incident is followed day by day unless asked otherwise.
    if (ev.type === "change" && $("kind").value === "incident" && !$("by").value) $("by").value = "day";
    showRelevant();
  }
  // A corrected field loses its error.
  if (fieldErrors[ev.target.id] && ev.type === "change") {
    const errors = validate(formState());
    fieldErrors = Object.fromEntries(Object.entries(fieldErrors).filter(([id]) => id in errors));
    showFieldErrors(false);
  }
  writeAddress();
}

/** The form's choices into the address (no new history entry). */
function writeAddress() {
  const state = formState();
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(state)) if (value) params.set(key, value);
  history.replaceState(history.state, "", `${location.pathname}?${params}`);
}

/** The address's choices into the form; whether it named a report to show. */
function readAddress() {
  const params = new URLSearchParams(location.search);
  const set = {};
  for (const id of ["kind", "from", "to", ...OPTIONAL]) {
    if (params.has(id)) set[id] = setField(id, params.get(id));
  }
  showRelevant();
  return Boolean(set.kind && set.from && set.to);
}

/** What is wrong with the choices: field → () => text. */
function validate(state) {
  const errors = {};
  if (!DATE.test(state.from)) errors.from = () => t("reports.valid.date");
  if (!DATE.test(state.to)) errors.to = () => t("reports.valid.date");
  else if (DATE.test(state.from) && state.to < state.from) errors.to = () => t("reports.valid.order");
  if (state.kind === "incident" && !state.tag) {
    errors.tag = () => t(meta?.incidents?.length ? "reports.valid.tag" : "reports.no_incidents");
  }
  return errors;
}

/** The errors next to their fields (described by them); with `focus`, the first one focused. */
function showFieldErrors(focus) {
  for (const id of ["from", "to", "tag"]) {
    const text = fieldErrors[id];
    $(`err-${id}`).textContent = text ? text() : "";
    if (text) {
      $(id).setAttribute("aria-invalid", "true");
      $(id).setAttribute("aria-describedby", `err-${id}`);
    } else {
      $(id).removeAttribute("aria-invalid");
      $(id).removeAttribute("aria-describedby");
    }
  }
  const first = ["from", "to", "tag"].find((id) => fieldErrors[id]);
  if (focus && first) $(first).focus();
}

/** The API's query for these choices: only the fields the report takes, and the page's language. */
function apiQuery(state) {
  const params = new URLSearchParams({ from: state.from, to: state.to });
  for (const id of FIELDS[state.kind] ?? []) if (state[id]) params.set(id, state[id]);
  params.set("lang", getLang());
  return params;
}

// ——— Loading a report ———

/** Checks the form and shows its report; `quiet`: no errors shown (a report named in the address). */
function show({ focus, quiet = false }) {
  if (loading) return;
  const state = formState();
  fieldErrors = validate(state);
  if (Object.keys(fieldErrors).length) {
    if (quiet) {
      fieldErrors = {};
      return;
    }
    showFieldErrors(true);
    const first = Object.values(fieldErrors)[0];
    setStatus(() => t("reports.not_shown", { reason: first() }));
    return;
  }
  showFieldErrors(false);
  writeAddress();
  load(state, { focus });
}

async function load(state, { focus }) {
  loading = true;
  reloadWhenDone = false;
  $("report-submit").disabled = true;
  $("result").setAttribute("aria-busy", "true");
  setStatus(() => t("reports.loading"));
  setReportError(null);
  let ok = false;
  try {
    const report = await api("GET", `/api/reports/${encodeURIComponent(state.kind)}?${apiQuery(state)}`);
    shown = { state, report };
    setDownload(null);
    render();
    ok = true;
    setStatus(() => t("reports.loaded", { report: kindName(report.kind ?? state.kind), count: fmtInt(report.rows?.length ?? 0) }));
  } catch (err) {
    setStatus(null);
    if (err.status !== 401) setReportError(() => errorWords(err));
  } finally {
    loading = false;
    $("report-submit").disabled = false;
    $("result").removeAttribute("aria-busy");
  }
  if (view !== "reports") return;
  if (reloadWhenDone && shown) load(shown.state, { focus: false });
  else if (ok && focus) $("result-title").focus();
  else if (!ok && (document.activeElement === document.body || document.activeElement === null)) $("report-submit").focus();
}

function setStatus(text) {
  statusText = text;
  $("status").textContent = text ? text() : "";
}

function setReportError(text) {
  reportError = text;
  $("report-error").textContent = text ? text() : "";
}

function setDownload(text) {
  downloadText = text;
  $("download-status").textContent = text ? text() : "";
}

/** A failed request in words. */
function errorWords(err) {
  if (err?.status === 0) return t("error.network");
  if (err?.status === 400) return t("reports.error.bad", { reason: err.message });
  if (err?.status === 403) return t("reports.error.forbidden");
  if (err?.status === 404) return t("reports.error.unknown");
  if (err?.status >= 500) return t("error.internal");
  return err?.message ? t("error.with_reason", { reason: err.message }) : t("error.generic");
}

// ——— Showing a report ———

function render() {
  const { state, report } = shown;
  const columns = report.columns ?? [];
  const rows = report.rows ?? [];
  const kind = report.kind ?? state.kind;
  const from = report.from ?? state.from;
  const to = report.to ?? state.to;
  const title = t("reports.result_title", { report: kindName(kind), period: periodWords(from, to) });
  $("result").hidden = false;
  $("result-title").textContent = title;
  $("result-filters").textContent = filterWords(state, report);
  const privacy = $("result-privacy");
  if (report.suppressed_below !== null && report.suppressed_below !== undefined) {
    const hidden = [...rows, report.total ?? []].some((row) => row.some((v, i) => v === "x" && NUMERIC.has(columns[i]?.type)));
    privacy.textContent = [t("reports.suppressed", { n: fmtInt(report.suppressed_below) }), hidden ? t("reports.hidden") : ""].join(" ").trim();
  } else if (meta?.suppress_below) {
    privacy.textContent = t("reports.exact", { n: fmtInt(meta.suppress_below) });
  } else privacy.textContent = "";
  $("result-empty").hidden = rows.length > 0;

  // The whole period's rows all say it: the heading does instead.
  const visible = columns
    .map((col, i) => ({ ...col, i }))
    .filter((col) => !(col.key === "period" && !report.by));

  $("charts").replaceChildren(...charts(report, columns, rows));
  $("table-caption").textContent = t("reports.table_caption", { title });
  const table = $("result-table");
  table.tHead.replaceChildren(
    el("tr", {}, visible.map((col) => el("th", { scope: "col", class: NUMERIC.has(col.type) ? "num" : null, text: colName(col.key) }))),
  );
  table.tBodies[0].replaceChildren(...rows.map((row) => tableRow(row, visible, columns, false)));
  table.tFoot.replaceChildren(...(report.total && rows.length ? [tableRow(report.total, visible, columns, true)] : []));
  $("table-scroll").hidden = rows.length === 0;
  $("download").disabled = false;
}

function tableRow(row, visible, columns, total) {
  return el(
    "tr",
    { class: total ? "total" : null },
    visible.map((col, n) => {
      const text = cellWords(row[col.i], col, row, columns);
      if (total && n === 0) return el("th", { scope: "row", text: text || t("reports.total") });
      const nowrap = col.key === "target" || col.key === "period";
      return el("td", { class: NUMERIC.has(col.type) ? "num" : nowrap ? "nowrap" : null, text });
    }),
  );
}

/** One cell in words: numbers in the page's language, codes by the catalogue, null as a dash. */
function cellWords(value, col, row, columns) {
  if (value === null || value === undefined) return "—";
  if (value === "total") return t("reports.total");
  // A suppressed figure ("<5", or "x" for one hidden so that a small count
  // cannot be worked out) is shown as the server wrote it.
  if (NUMERIC.has(col.type) && typeof value === "string") return value;
  switch (col.type) {
    case "count":
      return typeof value === "number" ? fmtInt(value) : String(value);
    case "percent":
      return typeof value === "number" ? fmtPct(value, col.key.endsWith("change_pct")) : String(value);
    case "seconds":
      return typeof value === "number" ? fmtDuration(value) : String(value);
    case "dim":
      return dimWords(col.key, value, row, columns);
    default:
      return col.key === "target" ? targetWords(value) : String(value);
  }
}

/** A code in words, by what its column is. */
function dimWords(key, value, row, columns) {
  if (value === null || value === undefined) return "";
  const v = String(value);
  // Not known (a call that never reached a region or a navigator); the
  // total row's empty cells stay empty.
  if (v === "") return row === shown?.report?.total ? "" : UNKNOWN.has(key) ? t("reports.value.unknown") : "";
  switch (key) {
    case "period":
    case "day":
      return periodName(v);
    case "region":
      return regionName(v);
    case "centre":
      return centreName(v);
    case "queue":
      return known("reports.queue", v) ? t(`reports.queue.${v}`) : centreName(v);
    case "reason":
      return known("unmet", v) ? label("unmet", v) : label("reports.value", v, true);
    case "dimension":
      return label("reports.dim", v, true);
    case "language":
      return label("language", v);
    case "service":
    case "searched":
      // The directory reports' words of their own (`not_from_directory`,
      // `not_searched`, `other`); service names and searched words as they are.
      return known("reports.value", v) ? t(`reports.value.${v}`) : v;
    case "value": {
      const dimension = row[columns.findIndex((c) => c.key === "dimension")];
      return demographicWords(dimension, v);
    }
    default:
      return v;
  }
}

/** A demographic answer in words (the log form's own words). */
function demographicWords(dimension, value) {
  if (known("choice", value)) return label("choice", value);
  if (known("reports.value", value)) return t(`reports.value.${value}`);
  const prefix = { inquirer: "inquirer", age_band: "age", gender: "gender" }[dimension];
  return prefix ? label(prefix, value) : value;
}

/** "80% in 60s" in the page's language. */
function targetWords(value) {
  const m = /^(\d+(?:\.\d+)?)% in (\d+)s$/.exec(String(value));
  if (!m) return String(value);
  const seconds = new Intl.NumberFormat(locale(), { style: "unit", unit: "second", unitDisplay: "short" }).format(Number(m[2]));
  return t("reports.target", { pct: fmtPct(Number(m[1]), false, 0), time: seconds });
}

function filterWords(state, report) {
  const wanted = FIELDS[state.kind] ?? [];
  const parts = [];
  if (wanted.includes("tag") && state.tag) parts.push(t("reports.filter.tag", { tag: state.tag }));
  if (wanted.includes("centre")) parts.push(state.centre ? centreName(state.centre) : t("reports.all_centres"));
  if (wanted.includes("region")) parts.push(state.region ? t("reports.filter.region", { region: regionName(state.region) }) : t("reports.all_regions"));
  if (wanted.includes("by")) parts.push(t(`reports.filter.by_${report.by ?? (state.by || "whole")}`));
  if (wanted.includes("split") && state.split) parts.push(t(`reports.filter.split_${state.split}`));
  return parts.join(" · ");
}

// ——— Charts ———

/** The report's charts: bars of `chart.y` by `chart.x`, one chart per value of `chart.group`. */
function charts(report, columns, rows) {
  const spec = report.chart;
  if (!spec || !rows.length) return [];
  const at = (key) => columns.findIndex((c) => c.key === key);
  const xi = at(spec.x);
  const yi = at(spec.y);
  if (xi < 0 || yi < 0) return [];
  const gi = spec.group ? at(spec.group) : -1;
  const xCol = columns[xi];
  const yCol = columns[yi];
  // Rates (a service level, calls tracked) cannot be added up across
  // periods: cut by day, week or month, the chart shows the last period.
  const pi = at("period");
  let lastPeriod = null;
  if (!spec.sum && pi >= 0 && pi !== xi && pi !== gi) {
    const periods = [...new Set(rows.map((r) => String(r[pi])))].sort();
    if (periods.length > 1) {
      lastPeriod = periods[periods.length - 1];
      rows = rows.filter((r) => String(r[pi]) === lastPeriod);
    }
  }
  const groups = new Map();
  for (const row of rows) {
    const g = gi >= 0 ? row[gi] : "";
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g).push(row);
  }
  const out = [];
  let n = 0;
  for (const [g, groupRows] of groups) {
    n += 1;
    const all = bars(groupRows, xi, yi, xCol, yCol, columns, spec.sum);
    const byPeriod = xCol.key === "period" || xCol.key === "day";
    let drawn;
    if (byPeriod) drawn = all.slice(-PERIOD_BARS);
    else {
      const order = (b) => (typeof b.value === "number" ? b.value : -1);
      drawn = [...all].sort((a, b) => order(b) - order(a)).slice(0, TOP_BARS);
    }
    const chartTitle = t("reports.chart_title", { y: colName(yCol.key), x: lowerFirst(colName(xCol.key)) });
    const groupName =
      gi >= 0 ? t("reports.chart_group", { name: colName(columns[gi].key), value: cellWords(g, columns[gi], groupRows[0], columns) }) : "";
    const title = [chartTitle, groupName, lastPeriod ? periodName(lastPeriod) : ""].filter(Boolean).join(" — ");
    const percent = yCol.type === "percent";
    const svg = barChart({
      id: `chart-${n}`,
      title,
      desc: t("reports.chart_desc"),
      bars: drawn,
      labelAxis: colName(xCol.key),
      valueAxis: colName(yCol.key),
      max: percent ? 100 : undefined,
      integer: yCol.type === "count",
      fmtTick: (v) => (percent ? fmtPct(v, false, 0) : yCol.type === "seconds" ? fmtDuration(v) : fmtInt(v)),
    });
    const figure = el("figure", { class: "chart-figure" });
    if (groupName) figure.append(el("h3", { text: groupName }));
    figure.append(svg);
    const notes = [];
    if (lastPeriod) notes.push(t("reports.chart_last_period", { period: periodName(lastPeriod) }));
    if (drawn.length < all.length) {
      notes.push(t(byPeriod ? "reports.chart_latest" : "reports.chart_top", { shown: fmtInt(drawn.length), count: fmtInt(all.length) }));
    }
    if (notes.length) figure.append(el("figcaption", { class: "hint", text: notes.join(" ") }));
    out.push(figure);
  }
  return out;
}

/** One bar per value of column `xi` (rows with the same one added up when `sum`, else one each). */
function bars(rows, xi, yi, xCol, yCol, columns, sum) {
  const list = [];
  const byX = new Map();
  for (const row of rows) {
    const x = row[xi];
    const y = row[yi];
    let bar = sum ? byX.get(x) : undefined;
    if (!bar) {
      bar = { label: cellWords(x, xCol, row, columns) || "—", total: 0, numbers: 0, hidden: null, nulls: 0 };
      list.push(bar);
      if (sum) byX.set(x, bar);
    }
    if (typeof y === "number") {
      bar.total += y;
      bar.numbers += 1;
    } else if (typeof y === "string" && y !== "") bar.hidden = y;
    else bar.nulls += 1;
  }
  return list.map((bar) => {
    if (bar.numbers === 0) {
      // Suppressed: no bar, "<5" (or "x") beside the axis. Nothing to count: a dash.
      return { label: bar.label, value: null, text: bar.hidden ?? "—" };
    }
    const text = cellWords(bar.total, yCol, [], columns);
    // Some parts suppressed: the sum of the others is a lower bound.
    return { label: bar.label, value: bar.total, text: bar.hidden ? `≥ ${text}` : text };
  });
}

// ——— CSV ———

async function download() {
  if (!shown) return;
  const { state, report } = shown;
  const kind = report.kind ?? state.kind;
  const name = `frontdoor-${kind}-${report.from ?? state.from}-${report.to ?? state.to}.csv`;
  const params = apiQuery(state);
  params.set("format", "csv");
  const button = $("download");
  button.disabled = true;
  setDownload(() => t("reports.downloading"));
  try {
    const blob = await apiBlob(`/api/reports/${encodeURIComponent(kind)}?${params}`, "text/csv");
    const url = URL.createObjectURL(blob);
    const link = el("a", { href: url, download: name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    setDownload(() => t("reports.downloaded", { file: name }));
  } catch (err) {
    if (err.status !== 401) setDownload(() => errorWords(err));
    else setDownload(null);
  } finally {
    button.disabled = false;
  }
}

// ——— Words ———

const locale = () => (getLang() === "fr" ? "fr-CA" : "en-CA");

const fmtInt = (n) => new Intl.NumberFormat(locale(), { maximumFractionDigits: 0 }).format(n);

/** 0–100 as a percentage with one decimal (or `digits`); `signed` shows + for a rise. */
function fmtPct(n, signed = false, digits = 1) {
  return new Intl.NumberFormat(locale(), {
    style: "percent",
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
    signDisplay: signed ? "exceptZero" : "auto",
  }).format(n / 100);
}

const kindName = (kind) => label("reports.kind", kind);

/** A column's name (`reports.col.KEY`), else its key with spaces. */
const colName = (key) => label("reports.col", key, true);

const lowerFirst = (text) => (text.length > 1 && text[1] !== text[1].toUpperCase() ? text[0].toLowerCase() + text.slice(1) : text);

function centreName(id) {
  if (known("centre", id)) return label("centre", id);
  return meta?.centres?.find((c) => c.id === id)?.name ?? id;
}

const regionName = (id) => label("region", id, true);

/** A local date from YYYY-MM-DD. */
function localDate(day) {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(y, m - 1, d);
}

/** From and to, both included, in words: "March 1 – 30, 2026". */
function periodWords(from, to) {
  if (!DATE.test(from) || !DATE.test(to)) return `${from} – ${to}`;
  const format = new Intl.DateTimeFormat(locale(), { dateStyle: "long" });
  return from === to ? format.format(localDate(from)) : format.formatRange(localDate(from), localDate(to));
}

/** A report's period in words: a day, a week (by its Monday), a month, or FROM..TO. */
function periodName(value) {
  if (DATE.test(value)) return fmtDate(value);
  let m = /^(\d{4})-W(\d{2})$/.exec(value);
  if (m) {
    // ISO week: week 1 holds January 4.
    const jan4 = new Date(Date.UTC(Number(m[1]), 0, 4));
    const monday = new Date(jan4.getTime() - ((jan4.getUTCDay() + 6) % 7) * 86_400_000 + (Number(m[2]) - 1) * 7 * 86_400_000);
    return t("reports.week_of", { date: fmtDate(monday.toISOString().slice(0, 10)) });
  }
  m = /^(\d{4})-(\d{2})$/.exec(value);
  if (m) return new Intl.DateTimeFormat(locale(), { month: "long", year: "numeric" }).format(new Date(Number(m[1]), Number(m[2]) - 1, 1));
  m = /^(.+)\.\.(.+)$/.exec(value);
  if (m) return periodWords(m[1], m[2]);
  if (value === "total") return t("reports.total");
  return value;
}

start();
