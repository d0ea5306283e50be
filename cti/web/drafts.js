// drafts.js — never lose what someone typed. Every change of a log is kept at
// once in localStorage (one key per user and call) and sent to the server
// with save_draft, debounced; on every hello the server's drafts and the
// local ones are merged and whatever the server has not acknowledged is sent
// again. Both copies go only on log_saved. Also the list of unfinished logs.

import { $, el } from "./dom.js";
import { t, fmtTime, fmtDateTime } from "./i18n.js";
import { newId } from "./ws.js";
import { callSummary, errorText } from "./session.js";

const DEBOUNCE_MS = 400;
const RETRY_MS = 3000;
const MARKS_KEPT = 500; // performance marks of the last drafts sent

let cti = null;
let hooks = { formCallId: () => null, liveCall: () => false, open: () => {} };
let user = null;
const records = new Map(); // call_id → {call_id, draft, updated_ms, call, synced}
const status = new Map(); // call_id → {kind: saving|saved|offline|refused, at, reason}
const latest = new Map(); // call_id → id of the last save_draft sent
const timers = new Map(); // call_id → debounce timer
const marked = [];

const prefix = () => `frontdoor.draft.${user}.`;

/** hooks: formCallId() the log shown, liveCall() whether a call is on, open(rec) opens a draft. */
export function initDrafts(connection, given) {
  cti = connection;
  hooks = given;
}

/** Loads this user's local drafts (another user's stay where they are). */
export function setUser(username) {
  if (user === username) return;
  user = username;
  records.clear();
  status.clear();
  for (let i = 0; i < localStorage.length; i++) {
    const key = localStorage.key(i);
    if (!key.startsWith(prefix())) continue;
    try {
      const rec = JSON.parse(localStorage.getItem(key));
      if (rec?.call_id) records.set(rec.call_id, rec);
    } catch {
      localStorage.removeItem(key);
    }
  }
}

export const get = (callId) => records.get(callId);

/** hello's drafts: the server's copy wins unless this computer has changes it never acknowledged. */
export function merge(serverDrafts = []) {
  const onServer = new Set();
  for (const d of serverDrafts) {
    onServer.add(d.call_id);
    const local = records.get(d.call_id);
    if (local && !local.synced) {
      local.call ??= d.call;
      continue;
    }
    const rec = { call_id: d.call_id, draft: d.draft, updated_ms: d.updated_ms, call: d.call ?? local?.call ?? null, synced: true };
    records.set(d.call_id, rec);
    store(rec);
  }
  for (const rec of [...records.values()]) {
    if (!rec.synced) send(rec.call_id);
    else if (!onServer.has(rec.call_id)) forget(rec.call_id); // acknowledged, then deleted: its log was saved
  }
  renderList();
  showStatus();
}

/** The log of `callId` changed: keep it here now, send it soon. */
export function change(callId, draft, call) {
  const rec = { call_id: callId, draft, updated_ms: Date.now(), call, synced: false };
  records.set(callId, rec);
  store(rec);
  setStatus(callId, cti.ready ? { kind: "saving" } : { kind: "offline" });
  clearTimeout(timers.get(callId));
  timers.set(callId, setTimeout(() => send(callId), DEBOUNCE_MS));
}

/** Sends a waiting change now (the log is closing or another opens). */
export function flush(callId) {
  if (timers.has(callId)) send(callId);
}

/** log_saved: both copies go. */
export function remove(callId) {
  forget(callId);
  renderList();
}

function forget(callId) {
  clearTimeout(timers.get(callId));
  timers.delete(callId);
  records.delete(callId);
  status.delete(callId);
  latest.delete(callId);
  localStorage.removeItem(prefix() + callId);
}

function store(rec) {
  try {
    localStorage.setItem(prefix() + rec.call_id, JSON.stringify(rec));
  } catch {
    // storage full or off: the server's copy still counts
  }
}

function send(callId) {
  clearTimeout(timers.get(callId));
  timers.delete(callId);
  const rec = records.get(callId);
  if (!rec || rec.synced) return;
  if (!cti.ready) {
    setStatus(callId, { kind: "offline" });
    return;
  }
  const id = newId();
  const sentVersion = rec.updated_ms;
  latest.set(callId, id);
  setStatus(callId, { kind: "saving" });
  mark(`draft-sent:${id}`);
  cti.send("save_draft", { call_id: callId, draft: rec.draft }, id).then(
    () => {
      mark(`draft-acked:${id}`);
      const now = records.get(callId);
      if (now && now.updated_ms === sentVersion) {
        now.synced = true;
        store(now);
      }
      if (latest.get(callId) === id) setStatus(callId, { kind: "saved", at: Date.now() });
    },
    (err) => {
      if (latest.get(callId) !== id) return;
      const offline = ["not_sent", "stopped", "timeout"].includes(err.code) || !cti.ready;
      setStatus(callId, offline ? { kind: "offline" } : { kind: "refused", reason: errorText(err) });
      // Unanswered on a live connection: try again (a reconnect's hello also sends it).
      if (err.code === "timeout") timers.set(callId, setTimeout(() => send(callId), RETRY_MS));
    },
  );
}

function mark(name) {
  performance.mark(name);
  marked.push(name);
  if (marked.length > 2 * MARKS_KEPT) performance.clearMarks(marked.shift());
}

function setStatus(callId, value) {
  status.set(callId, value);
  if (callId === hooks.formCallId()) showStatus();
}

/** Writes the draft status of the log shown. */
export function showStatus() {
  const s = status.get(hooks.formCallId());
  const node = $("draft-status");
  node.classList.toggle("warn", s?.kind === "offline" || s?.kind === "refused");
  if (!s) node.textContent = "";
  else if (s.kind === "saved") node.textContent = t("draft.saved", { time: fmtTime(s.at) });
  else if (s.kind === "refused") node.textContent = t("draft.refused", { reason: s.reason });
  else node.textContent = t(`draft.${s.kind}`);
}

/** The unfinished logs other than the one shown. */
export function renderList() {
  const shown = hooks.formCallId();
  const busy = hooks.liveCall();
  const list = [...records.values()].filter((r) => r.call_id !== shown).sort((a, b) => b.updated_ms - a.updated_ms);
  $("drafts").replaceChildren(
    ...list.map((rec) => {
      const summary = rec.call ? callSummary(rec.call) : t("drafts.call_id", { id: rec.call_id });
      return el(
        "li",
        { class: "draft" },
        el("p", { class: "draft-summary", text: summary }),
        el("p", { class: "muted", text: t(rec.synced ? "drafts.changed" : "drafts.changed_local", { time: fmtDateTime(rec.updated_ms) }) }),
        el("button", {
          type: "button",
          class: "small open-draft",
          text: t("drafts.open"),
          "aria-label": t("drafts.open_label", { call: summary }),
          "aria-describedby": busy ? "drafts-busy" : null,
          disabled: busy,
          onclick: () => hooks.open(rec),
        }),
      );
    }),
  );
  $("drafts-none").hidden = list.length > 0;
  const hint = $("drafts-busy");
  hint.hidden = !(busy && list.length);
}
