// followups.js — the follow-ups due and overdue (mine or my centre's): each
// row opens the call's details and a small form to record the outcome.

import { $, el } from "./dom.js";
import { t, label, fmtDate } from "./i18n.js";
import { api } from "./api.js";
import { callerText, centreName, errorText } from "./session.js";

const REFRESH_MS = 5 * 60 * 1000;
let rows = [];
let openId = null; // log_id of the follow-up opened
let resultKey = "";
let timer = null;
let cti = null;

export function initFollowups(connection) {
  cti = connection;
  $("fu-call").addEventListener("click", callBack);
  $("fu-scope").addEventListener("change", load);
  $("fu-table").addEventListener("click", (ev) => {
    const button = ev.target.closest(".fu-open");
    if (button) openDetail(Number(button.dataset.logId));
  });
  $("fu-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    saveOutcome();
  });
}

export function startFollowups() {
  load();
  clearInterval(timer);
  timer = setInterval(load, REFRESH_MS);
}

export function stopFollowups() {
  clearInterval(timer);
  rows = [];
  openId = null;
  render();
}

/** Reads the list again now (a saved log may have added to it). */
export function refresh() {
  if (timer) load();
}

/** Alt+Shift+F: the list, fresh, with the cursor on its first follow-up. */
export async function focusFollowups() {
  await load();
  ($("fu-table").querySelector(".fu-open") ?? $("fu-scope")).focus();
}

async function load() {
  try {
    const list = await api("GET", `/api/follow-ups?scope=${encodeURIComponent($("fu-scope").value)}`);
    rows = (Array.isArray(list) ? list : []).filter((r) => r.status === "due" || r.status === "overdue");
    $("fu-error").textContent = "";
  } catch (err) {
    if (err.status !== 401) $("fu-error").textContent = errorText(err);
  }
  render();
}

export function render() {
  $("fu-table").tBodies[0].replaceChildren(
    ...rows.map((r) => {
      const overdue = r.status === "overdue";
      return el(
        "tr",
        { class: overdue ? "overdue" : null },
        el("td", { text: fmtDate(r.due) }),
        el(
          "td",
          {},
          el("button", {
            type: "button",
            class: "small fu-open",
            "data-log-id": r.log_id,
            "aria-expanded": String(openId === r.log_id),
            "aria-controls": "fu-detail",
            text: callerText(r.caller),
          }),
        ),
        el("td", { text: r.reason ?? "" }),
        el("td", { text: r.navigator ?? "" }),
        el("td", {}, el("span", { class: overdue ? "badge overdue-badge" : "badge", text: label("fu_status", r.status) })),
      );
    }),
  );
  $("fu-none").hidden = rows.length > 0;
  $("fu-result").textContent = resultKey ? t(resultKey) : "";
  renderDetail();
}

function openDetail(logId) {
  openId = logId;
  resultKey = "";
  render();
  $("fu-detail-title").focus();
}

function renderDetail() {
  const row = rows.find((r) => r.log_id === openId);
  $("fu-detail").hidden = !row;
  if (!row) return;
  const fact = (key, value) => el("div", { class: "fact wide" }, el("dt", { text: t(key) }), el("dd", { text: value || "—" }));
  $("fu-facts").replaceChildren(
    fact("followups.caller", callerText(row.caller, true)),
    fact("followups.due", fmtDate(row.due)),
    fact("followups.method", label("method", row.method)),
    fact("followups.reason", row.reason),
    fact("followups.navigator", row.navigator),
    fact("followups.centre", centreName(row.centre)),
    fact("followups.call_id", row.call_id),
  );
}

/** Calls the person back now: the navigator's phone rings, then theirs. */
async function callBack() {
  const row = rows.find((r) => r.log_id === openId);
  if (!row) return;
  const button = $("fu-call");
  button.disabled = true;
  $("fu-error").textContent = "";
  try {
    await cti.send("follow_up_call", { log_id: row.log_id });
    resultKey = "followups.calling";
    $("fu-result").textContent = t(resultKey);
  } catch (err) {
    $("fu-error").textContent = errorText(err);
  } finally {
    button.disabled = false;
  }
}

async function saveOutcome() {
  const row = rows.find((r) => r.log_id === openId);
  if (!row) return;
  const button = $("fu-save");
  button.disabled = true;
  try {
    await api("POST", `/api/follow-ups/${encodeURIComponent(row.log_id)}/outcome`, {
      outcome: $("fu-outcome").value,
      notes: $("fu-notes").value,
    });
    $("fu-notes").value = "";
    openId = null;
    resultKey = "followups.saved";
    await load();
    ($("fu-table").querySelector(".fu-open") ?? $("fu-scope")).focus();
  } catch (err) {
    if (err.status !== 401) $("fu-error").textContent = errorText(err);
  } finally {
    button.disabled = false;
  }
}
