// form.js — the call log: opens when a call is offered and stays until the
// log is saved; the needs combobox (taxonomy search, ARIA combobox pattern),
// referrals, demographics, crisis details and follow-up; every change goes
// to drafts.js; log_call with the server's field errors shown at the field;
// reopening a saved log to correct it. The directory search (directory.js)
// sits in the log: its fields are part of the draft, and its Refer buttons
// add referrals that keep the service's id.

import { $, el } from "./dom.js";
import { t, label, known, getLang, allTexts, today } from "./i18n.js";
import { api } from "./api.js";
import { newId } from "./ws.js";
import { callSummary, errorText, deskMessage } from "./session.js";
import * as drafts from "./drafts.js";
import * as directory from "./directory.js";

const UNMET_REASONS = ["no_service", "ineligible", "waitlist", "cost", "distance", "language", "hours", "declined", "other"];
const FORM_KEY = "frontdoor.form"; // the call whose log was open, to reopen it after a reload
// Server field paths → the control that shows them.
const CONTROLS = {
  needs: "need-search",
  referrals: "add-referral",
  inquirer: "inquirer",
  area: "area",
  age_band: "age-band",
  gender: "gender",
  notes: "notes",
  "crisis_details.type": "crisis-type",
  "crisis_details.risk": "crisis-risk",
  "crisis_details.action": "crisis-action",
  "crisis_details.emergency_services": "crisis-ems",
  "crisis_details.emergency_confirmed": "crisis-ems-confirmed",
  "follow_up.consent": "fu-consent",
  "follow_up.due": "fu-due",
  "follow_up.method": "fu-method",
  "follow_up.reason": "fu-reason",
};
const ALIASES = { crisis_details: "crisis_details.type", follow_up: "follow_up.consent" };

let cti = null;
let log = null; // {callId, call (summary), crisis, corrects}
let lastSubmit = null; // {id, key}: an unchanged log is resubmitted with the same id
let saved = null; // {callId, call}: the log just saved, for a correction
let resultKey = ""; // what #log-result says
let submitting = false;

export const formCallId = () => log?.callId ?? null;

/** The need codes of the log shown, in order. */
export const needCodes = () => [...$("needs").children].map((row) => row.dataset.code);

/** The directory services already in the log's referrals. */
export const referredIds = () => [...$("referrals").children].map((row) => row.dataset.serviceId).filter(Boolean);

/**
 * A service from the directory into the referrals (blank rows make way):
 * "added", "duplicate" when it is there already, "closed" with no log open.
 */
export function addReferral(ref) {
  if (!log) return "closed";
  const draft = collect();
  if (ref.service_id && draft.referrals.some((r) => r.service_id === ref.service_id)) return "duplicate";
  const kept = draft.referrals.filter((r) => r.name.trim() || r.phone.trim() || r.service_id);
  kept.push({ name: ref.name, phone: ref.phone ?? "", ...(ref.code ? { code: ref.code } : {}), service_id: ref.service_id });
  renderReferrals(kept);
  onEdit();
  return "added";
}

export function initForm(connection) {
  cti = connection;
  const form = $("log-form");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit();
  });
  form.addEventListener("input", onEdit);
  form.addEventListener("change", onEdit);
  // Enter in a one-line field must not send the log by accident.
  form.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && ev.target instanceof HTMLInputElement && ev.target.type !== "checkbox" && ev.target.type !== "radio") ev.preventDefault();
  });
  $("needs").addEventListener("click", (ev) => {
    const button = ev.target.closest(".need-remove");
    if (button) removeRow("needs", button, () => $("need-search"));
  });
  $("referrals").addEventListener("click", (ev) => {
    const button = ev.target.closest(".referral-remove");
    if (button) removeRow("referrals", button, () => $("add-referral"));
  });
  $("add-referral").addEventListener("click", () => {
    const draft = collect();
    draft.referrals.push({ name: "", phone: "" });
    renderReferrals(draft.referrals);
    $(`ref-name-${draft.referrals.length - 1}`).focus();
  });
  $("log-correct").addEventListener("click", correct);
  initCombobox();
}

/** Opens the log of a call offered or answered (keeping it if it is already open). */
export function openForCall(summary) {
  if (log && log.callId === summary.call_id) {
    log.call = summary;
    log.crisis = summary.crisis;
    renderHeading();
    directory.setCall(summary);
    return;
  }
  const rec = drafts.get(summary.call_id);
  openLog(summary, rec?.draft ?? null);
}

/** Opens an unfinished log from the list. */
export function openDraft(rec) {
  openLog(rec.call ?? { call_id: rec.call_id }, rec.draft);
  $("need-search").focus();
}

/** Reopens, after a reload, the log that was open (when its draft is still there). */
export function reopenLast() {
  const callId = sessionStorage.getItem(FORM_KEY);
  const rec = callId && drafts.get(callId);
  if (!log && rec) openLog(rec.call ?? { call_id: callId }, rec.draft);
}

/** The offer was taken back: a call never answered has no log to write. */
export function callWithdrawn(callId, answered) {
  if (log?.callId === callId && !answered) closeLog();
}

/** log_saved: the draft goes (here and on the server) and the form closes. */
export function logSaved(frame) {
  drafts.remove(frame.call_id);
  if (log?.callId !== frame.call_id) return;
  saved = { callId: log.callId, call: log.call };
  closeLog();
  setResult(frame.duplicate ? "log.saved_duplicate" : "log.saved");
  $("log-correct").hidden = false;
}

/** Closes the log (its draft, if any, stays). */
export function closeLog() {
  if (log) drafts.flush(log.callId);
  if ($("log-form").contains(document.activeElement)) $("log-title").focus();
  log = null;
  lastSubmit = null;
  sessionStorage.removeItem(FORM_KEY);
  $("log-form").hidden = true;
  $("log-empty").hidden = false;
  renderHeading();
  drafts.renderList();
}

/** Redraws what JavaScript wrote (after a language switch). */
export function relabel() {
  if (log) {
    const draft = collect();
    renderNeeds(draft.needs);
    renderReferrals(draft.referrals);
  }
  renderHeading();
  setResult(resultKey);
}

function setResult(key) {
  resultKey = key;
  $("log-result").textContent = key ? t(key) : "";
}

/** Puts the cursor in the needs search (Alt+Shift+L). */
export function focusLog() {
  if (log) $("need-search").focus();
  else $("log-title").scrollIntoView({ block: "nearest" });
}

function openLog(summary, draft) {
  if (log) drafts.flush(log.callId);
  log = { callId: summary.call_id, call: summary, crisis: Boolean(summary.crisis ?? draft?.crisis), corrects: draft?.corrects ?? null };
  lastSubmit = null;
  saved = null;
  sessionStorage.setItem(FORM_KEY, log.callId);
  fill(draft ?? emptyDraft());
  clearErrors();
  setResult("");
  $("log-correct").hidden = true;
  $("log-form").hidden = false;
  $("log-empty").hidden = true;
  renderHeading();
  drafts.showStatus();
  drafts.renderList();
}

function renderHeading() {
  let text = "";
  if (log) {
    text = log.call?.caller !== undefined ? t("log.for", { call: callSummary(log.call) }) : t("log.for_id", { id: log.callId });
    if (log.corrects) text += ` — ${t("log.correcting")}`;
  }
  $("log-for").textContent = text;
  $("crisis-details").hidden = !log?.crisis;
}

function emptyDraft() {
  return {
    v: 1,
    needs: [],
    referrals: [{ name: "", phone: "" }],
    inquirer: "not_asked",
    area: "",
    age_band: "not_asked",
    gender: "not_asked",
    notes: "",
    crisis_details: { type: "", risk: "", action: "", emergency_services: false, emergency_confirmed: false },
    follow_up: { consent: false, due: "", method: "phone", reason: "" },
  };
}

/** The whole form as one object: what save_draft stores. */
function collect() {
  return {
    v: 1,
    crisis: log?.crisis ?? false,
    corrects: log?.corrects ?? null,
    needs: [...$("needs").children].map((row, i) => {
      const met = row.querySelector(`input[name="need-${i}-met"]:checked`)?.value;
      return {
        code: row.dataset.code,
        name_en: row.dataset.nameEn,
        name_fr: row.dataset.nameFr,
        met: met === undefined ? null : met === "met",
        unmet_reason: row.querySelector(".unmet-reason").value,
      };
    }),
    referrals: [...$("referrals").children].map((row) => ({
      name: row.querySelector(".ref-name").value,
      phone: row.querySelector(".ref-phone").value,
      // A service chosen in the directory keeps its id and code.
      ...(row.dataset.code ? { code: row.dataset.code } : {}),
      ...(row.dataset.serviceId ? { service_id: row.dataset.serviceId } : {}),
    })),
    inquirer: $("inquirer").value,
    area: $("area").value,
    age_band: $("age-band").value,
    gender: $("gender").value,
    notes: $("notes").value,
    crisis_details: {
      type: $("crisis-type").value,
      risk: $("crisis-risk").value,
      action: $("crisis-action").value,
      emergency_services: $("crisis-ems").checked,
      emergency_confirmed: $("crisis-ems-confirmed").checked,
    },
    follow_up: {
      consent: $("fu-consent").checked,
      due: $("fu-due").value,
      method: $("fu-method").value,
      reason: $("fu-reason").value,
    },
    directory: directory.collect(),
  };
}

function fill(draft) {
  const d = { ...emptyDraft(), ...draft };
  renderNeeds(d.needs ?? []);
  renderReferrals(d.referrals?.length ? d.referrals : [{ name: "", phone: "" }]);
  $("inquirer").value = d.inquirer;
  $("area").value = d.area;
  $("age-band").value = d.age_band;
  $("gender").value = d.gender;
  $("notes").value = d.notes;
  const c = { ...emptyDraft().crisis_details, ...d.crisis_details };
  $("crisis-type").value = c.type;
  $("crisis-risk").value = c.risk;
  $("crisis-action").value = c.action;
  $("crisis-ems").checked = c.emergency_services;
  $("crisis-ems-confirmed").checked = c.emergency_confirmed;
  const f = { ...emptyDraft().follow_up, ...d.follow_up };
  $("fu-consent").checked = f.consent;
  $("fu-due").value = f.due;
  $("fu-due").min = today();
  $("fu-method").value = f.method;
  $("fu-reason").value = f.reason;
  $("need-search").value = "";
  directory.fill(d.directory, log?.call, d.area);
}

function needName(need) {
  return (getLang() === "fr" ? need.name_fr || need.name_en : need.name_en || need.name_fr) || "";
}

function renderNeeds(needs) {
  $("needs").replaceChildren(
    ...needs.map((need, i) => {
      const name = needName(need);
      const radio = (value, checked) =>
        el(
          "label",
          { class: "radio" },
          el("input", { type: "radio", name: `need-${i}-met`, value, checked }),
          ` ${t(value === "met" ? "log.met" : "log.unmet")}`,
        );
      return el(
        "li",
        { class: "need", "data-code": need.code, "data-name-en": need.name_en ?? "", "data-name-fr": need.name_fr ?? "" },
        el("p", { class: "need-title" }, el("span", { class: "need-code", text: need.code }), " ", el("span", { class: "need-name", text: name })),
        el("p", { class: "field-error", id: `err-needs[${i}].code` }),
        el(
          "fieldset",
          { class: "met" },
          el("legend", { text: t("log.met_legend") }),
          radio("met", need.met === true),
          radio("unmet", need.met === false),
        ),
        el("p", { class: "field-error", id: `err-needs[${i}].met` }),
        el(
          "div",
          { class: "field unmet", hidden: need.met !== false },
          el("label", { for: `need-${i}-unmet`, text: t("log.unmet_reason") }),
          el(
            "select",
            { id: `need-${i}-unmet`, class: "unmet-reason" },
            el("option", { value: "", text: t("choice.choose") }),
            ...UNMET_REASONS.map((r) => el("option", { value: r, text: label("unmet", r), selected: need.unmet_reason === r })),
          ),
          el("p", { class: "field-error", id: `err-needs[${i}].unmet_reason` }),
        ),
        el("button", { type: "button", class: "small need-remove", "aria-label": t("log.remove_need", { code: need.code, name }), text: t("log.remove") }),
      );
    }),
  );
}

function renderReferrals(referrals) {
  $("referrals").replaceChildren(
    ...referrals.map((r, i) =>
      el(
        "li",
        { class: r.service_id ? "referral from-directory" : "referral", "data-service-id": r.service_id || null, "data-code": r.code || null },
        r.service_id
          ? el(
              "p",
              { class: "ref-source" },
              el("span", { class: "badge", text: t("directory.from_directory") }),
              r.code ? el("span", { class: "need-code", text: r.code }) : null,
            )
          : null,
        el(
          "div",
          { class: "field" },
          el("label", { for: `ref-name-${i}`, text: t("log.ref_name", { n: i + 1 }) }),
          el("input", { id: `ref-name-${i}`, class: "ref-name", type: "text", maxlength: 200, value: r.name ?? "" }),
          el("p", { class: "field-error", id: `err-referrals[${i}].name` }),
        ),
        el(
          "div",
          { class: "field" },
          el("label", { for: `ref-phone-${i}`, text: t("log.ref_phone") }),
          el("input", { id: `ref-phone-${i}`, class: "ref-phone", type: "tel", maxlength: 40, value: r.phone ?? "" }),
          el("p", { class: "field-error", id: `err-referrals[${i}].phone` }),
        ),
        el("button", { type: "button", class: "small referral-remove", "aria-label": t("log.remove_referral", { n: i + 1 }), text: t("log.remove") }),
        r.service_id ? el("p", { class: "field-error", id: `err-referrals[${i}].service_id` }) : null,
        r.service_id ? el("p", { class: "field-error", id: `err-referrals[${i}].code` }) : null,
      ),
    ),
  );
  directory.referralsChanged();
}

function removeRow(list, button, fallback) {
  const rows = [...$(list).children];
  const index = rows.indexOf(button.closest("li"));
  const draft = collect();
  draft[list].splice(index, 1);
  if (list === "needs") renderNeeds(draft.needs);
  else renderReferrals(draft.referrals);
  const next = $(list).children[Math.min(index, $(list).children.length - 1)];
  (next?.querySelector("button") ?? fallback()).focus();
  onEdit();
}

function onEdit(ev) {
  if (!log || ev?.target?.id === "need-search") return;
  if (ev?.target?.type === "radio") {
    const row = ev.target.closest(".need");
    row.querySelector(".unmet").hidden = ev.target.value !== "unmet";
  }
  drafts.change(log.callId, collect(), log.call);
}

// ——— The needs combobox ———

let options = [];
let active = -1;
let lookupTimer = null;
let lookupSeq = 0;

function initCombobox() {
  const input = $("need-search");
  const list = $("need-options");
  input.addEventListener("input", () => {
    clearTimeout(lookupTimer);
    lookupTimer = setTimeout(lookup, 200);
  });
  input.addEventListener("keydown", onComboKey);
  input.addEventListener("blur", closeOptions);
  list.addEventListener("mousedown", (ev) => ev.preventDefault());
  list.addEventListener("click", (ev) => {
    const option = ev.target.closest('[role="option"]');
    if (option) choose(Number(option.dataset.index));
  });
}

async function lookup() {
  const q = $("need-search").value.trim();
  const mine = ++lookupSeq;
  if (q.length < 2) {
    options = [];
    closeOptions();
    return;
  }
  try {
    const rows = await api("GET", `/api/taxonomy?q=${encodeURIComponent(q)}&limit=20`);
    if (mine !== lookupSeq) return;
    options = Array.isArray(rows) ? rows : [];
    renderOptions();
  } catch (err) {
    if (mine === lookupSeq && err.status !== 401) $("need-count").textContent = errorText(err);
  }
}

function renderOptions() {
  const list = $("need-options");
  active = -1;
  list.replaceChildren(
    ...options.map((o, i) =>
      el("li", { id: `need-opt-${i}`, role: "option", "aria-selected": "false", "data-index": i },
        el("span", { class: "need-code", text: o.code }), " ", el("span", { text: needName(o) })),
    ),
  );
  list.hidden = options.length === 0;
  $("need-search").setAttribute("aria-expanded", String(options.length > 0));
  $("need-search").removeAttribute("aria-activedescendant");
  $("need-count").textContent = options.length ? t("log.need_results", { count: options.length }) : t("log.need_no_results");
}

function closeOptions() {
  $("need-options").hidden = true;
  $("need-search").setAttribute("aria-expanded", "false");
  $("need-search").removeAttribute("aria-activedescendant");
  active = -1;
}

function setActive(i) {
  const items = $("need-options").children;
  if (items[active]) items[active].setAttribute("aria-selected", "false");
  active = i;
  items[i].setAttribute("aria-selected", "true");
  $("need-search").setAttribute("aria-activedescendant", items[i].id);
  items[i].scrollIntoView({ block: "nearest" });
}

function onComboKey(ev) {
  const open = !$("need-options").hidden;
  switch (ev.key) {
    case "ArrowDown":
    case "ArrowUp":
      if (!options.length) return;
      ev.preventDefault();
      if (!open) {
        $("need-options").hidden = false;
        $("need-search").setAttribute("aria-expanded", "true");
      }
      setActive(ev.key === "ArrowDown" ? (active + 1) % options.length : (active - 1 + options.length) % options.length);
      break;
    case "Enter":
      ev.preventDefault();
      if (open && active >= 0) choose(active);
      else if (open && options.length === 1) choose(0);
      break;
    case "Escape":
      if (open) closeOptions();
      else $("need-search").value = "";
      break;
  }
}

function choose(i) {
  const option = options[i];
  if (!option || !log) return;
  const draft = collect();
  if (!draft.needs.some((n) => n.code === option.code)) {
    draft.needs.push({ code: option.code, name_en: option.name_en, name_fr: option.name_fr, met: null, unmet_reason: "" });
    renderNeeds(draft.needs);
    onEdit();
  }
  $("need-search").value = "";
  options = [];
  closeOptions();
  $("need-count").textContent = t("log.need_added", { code: option.code, name: needName(option) });
  $("need-search").focus();
}

// ——— Errors ———

function canonical(field) {
  if (ALIASES[field]) return ALIASES[field];
  const row = /^(needs|referrals)\[(\d+)\]$/.exec(field);
  if (row) return `${field}.${row[1] === "needs" ? "met" : "name"}`;
  return field;
}

function controlFor(field) {
  if (CONTROLS[field]) return $(CONTROLS[field]);
  const m = /^(needs|referrals)\[(\d+)\]\.(\w+)$/.exec(field);
  const row = m && $(m[1]).children[Number(m[2])];
  if (!row) return null;
  if (m[1] === "referrals") return row.querySelector(m[3] === "phone" ? ".ref-phone" : ".ref-name");
  return m[3] === "unmet_reason" ? row.querySelector(".unmet-reason") : row.querySelector('input[type="radio"]');
}

/** A field the server refused, said in the page's language when the
 * catalogue knows the rule (`server.<field>`, rows as `[]`), else the
 * server's own words. */
function serverReason(err) {
  const field = err.field.replace(/\[\d+\]/g, "[]");
  return known("server", field) ? t(`server.${field}`) : err.reason;
}

/** Shows each {field, reason} at its field and focuses the first; the rest go to the form's alert. */
function showErrors(problems) {
  let first = null;
  const general = [];
  for (const { field, reason } of problems) {
    const name = canonical(field ?? "");
    const control = field ? controlFor(name) : null;
    const message = $(`err-${name}`);
    if (!control || !message) {
      general.push(reason);
      continue;
    }
    message.textContent = reason;
    if (name.endsWith("unmet_reason")) control.closest(".unmet").hidden = false;
    const targets = control.type === "radio" ? [...control.closest("li").querySelectorAll('input[type="radio"]')] : [control];
    for (const target of targets) {
      target.setAttribute("aria-invalid", "true");
      const ids = new Set((target.getAttribute("aria-describedby") ?? "").split(" ").filter(Boolean));
      ids.add(message.id);
      target.setAttribute("aria-describedby", [...ids].join(" "));
    }
    first ??= control;
  }
  $("log-error").textContent = general.join(" ");
  first?.focus();
}

function clearErrors() {
  const form = $("log-form");
  for (const node of form.querySelectorAll(".field-error")) node.textContent = "";
  for (const node of form.querySelectorAll("[aria-invalid]")) {
    node.removeAttribute("aria-invalid");
    const ids = (node.getAttribute("aria-describedby") ?? "").split(" ").filter((id) => id && !id.startsWith("err-"));
    if (ids.length) node.setAttribute("aria-describedby", ids.join(" "));
    else node.removeAttribute("aria-describedby");
  }
  $("log-error").textContent = "";
}

// ——— Sending the log ———

function validate(d) {
  const problems = [];
  if (!d.needs.length) problems.push({ field: "needs", reason: t("valid.need_one") });
  d.needs.forEach((n, i) => {
    if (n.met === null) problems.push({ field: `needs[${i}].met`, reason: t("valid.need_met") });
    else if (!n.met && !n.unmet_reason) problems.push({ field: `needs[${i}].unmet_reason`, reason: t("valid.unmet_reason") });
  });
  if (log.crisis) {
    if (!d.crisis_details.type) problems.push({ field: "crisis_details.type", reason: t("valid.required") });
    if (!d.crisis_details.risk) problems.push({ field: "crisis_details.risk", reason: t("valid.required") });
  }
  const f = d.follow_up;
  if (f.consent || f.due || f.reason.trim()) {
    if (!f.consent) problems.push({ field: "follow_up.consent", reason: t("valid.fu_consent") });
    if (!f.due) problems.push({ field: "follow_up.due", reason: t("valid.fu_due") });
    else if (f.due < today()) problems.push({ field: "follow_up.due", reason: t("valid.fu_due_past") });
  }
  return problems;
}

/** A typed area as the server wants it: a postal prefix (K1A), a municipality, not_asked or declined. */
function areaValue(text) {
  const typed = text.trim();
  const lower = typed.toLocaleLowerCase();
  if (!typed || lower === "not_asked" || allTexts("choice.not_asked").some((w) => w.toLocaleLowerCase() === lower)) return "not_asked";
  if (lower === "declined" || allTexts("choice.declined").some((w) => w.toLocaleLowerCase() === lower)) return "declined";
  const postal = /^([a-z]\d[a-z])(\s?\d[a-z]\d)?$/i.exec(typed);
  return postal ? postal[1].toUpperCase() : typed;
}

function body(d) {
  const out = {
    call_id: log.callId,
    needs: d.needs.map((n) => (n.met ? { code: n.code, met: true } : { code: n.code, met: false, unmet_reason: n.unmet_reason })),
    referrals: d.referrals
      .filter((r) => r.name.trim())
      .map((r) => ({
        name: r.name.trim(),
        ...(r.phone.trim() ? { phone: r.phone.trim() } : {}),
        ...(r.code ? { code: r.code } : {}),
        ...(r.service_id ? { service_id: r.service_id } : {}),
      })),
    inquirer: d.inquirer,
    area: areaValue(d.area),
    age_band: d.age_band,
    gender: d.gender,
    notes: d.notes,
  };
  if (log.crisis) out.crisis_details = { ...d.crisis_details, action: d.crisis_details.action.trim() };
  const f = d.follow_up;
  if (f.consent) out.follow_up = { consent: true, due: f.due, method: f.method, reason: f.reason.trim() };
  if (log.corrects) out.corrects = log.corrects;
  return out;
}

export async function submit() {
  if (!log || submitting) return;
  clearErrors();
  setResult("");
  const draft = collect();
  const problems = validate(draft);
  if (problems.length) {
    showErrors(problems);
    return;
  }
  const payload = body(draft);
  const key = JSON.stringify(payload);
  const id = lastSubmit && lastSubmit.key === key ? lastSubmit.id : newId();
  lastSubmit = { id, key };
  const button = $("log-submit");
  submitting = true;
  button.disabled = true;
  button.textContent = t("log.submitting");
  if (!cti.ready) $("log-error").textContent = t("log.queued");
  try {
    await cti.send("log_call", payload, id); // log_saved (handled by logSaved) settles it
  } catch (err) {
    if (err.field) showErrors([{ field: err.field, reason: serverReason(err) }]);
    else showErrors([{ field: null, reason: `${errorText(err)} ${t("log.kept")}` }]);
  } finally {
    submitting = false;
    button.disabled = false;
    button.textContent = t("log.submit");
  }
}

/** Reopens the log just saved, to correct it (sent with `corrects`). */
async function correct() {
  if (!saved) return;
  const { callId, call } = saved;
  try {
    const answer = await api("GET", `/api/calls/${encodeURIComponent(callId)}/log`);
    const l = answer.log ?? {};
    const draft = {
      ...emptyDraft(),
      ...l,
      corrects: answer.log_id,
      crisis: Boolean(l.crisis_details) || Boolean(call?.crisis),
      needs: (l.needs ?? []).map((n) => ({ code: n.code, met: n.met, unmet_reason: n.unmet_reason ?? "" })),
      referrals: (l.referrals ?? []).map((r) => ({
        name: r.name ?? "",
        phone: r.phone ?? "",
        ...(r.code ? { code: r.code } : {}),
        ...(r.service_id ? { service_id: r.service_id } : {}),
      })),
      area: l.area === "not_asked" ? "" : l.area === "declined" ? t("choice.declined") : l.area ?? "",
    };
    openLog(call ?? { call_id: callId }, draft);
    $("need-search").focus();
    nameNeeds(callId);
  } catch (err) {
    if (err.status !== 401) deskMessage(errorText(err));
  }
}

/** A reopened log has codes only: their names come from the taxonomy. */
async function nameNeeds(callId) {
  for (const row of $("needs").children) {
    const code = row.dataset.code;
    try {
      const rows = await api("GET", `/api/taxonomy?q=${encodeURIComponent(code)}&limit=5`);
      const hit = rows.find((r) => r.code === code);
      if (!hit || log?.callId !== callId || !row.isConnected) continue;
      row.dataset.nameEn = hit.name_en;
      row.dataset.nameFr = hit.name_fr;
      row.querySelector(".need-name").textContent = needName(hit);
    } catch {
      return; // the codes alone are enough to correct the log
    }
  }
}
