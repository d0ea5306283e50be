// pop.js — the screen pop and the call controls: renders call_offered (with
// the crisis banner, the masked number, the region and where it came from,
// the IVR path and previous contacts with the services they were referred
// to), announces it, follows the call (answered, consult transfer, ended,
// taken back), and sends hangup, transfer, reveal_caller, correct_region
// and history.

import { $, el } from "./dom.js";
import { t, label, known, fmtDateTime, fmtDate, fmtDuration } from "./i18n.js";
import { session, centreName, regionName, pathStep, callerText, errorText, deskMessage } from "./session.js";
import { openForCall, formCallId, callWithdrawn as formCallWithdrawn } from "./form.js";

let cti = null;
let call = null; // {pop, status, answered, revealed, history, confirmed, transferTarget}
let notice = null; // () => why the last call left the screen, in the current language
const LIVE = new Set(["ringing", "talking", "consulting"]);

export const hasLiveCall = () => Boolean(call && LIVE.has(call.status));

export function initPop(connection) {
  cti = connection;
  $("reveal").addEventListener("click", reveal);
  $("region-fix").addEventListener("click", correctRegion);
  $("history-more").addEventListener("click", moreHistory);
  $("btn-hangup").addEventListener("click", hangup);
  $("btn-hold").addEventListener("click", () => call && command("hold", { on: !call.held }));
  $("btn-transfer").addEventListener("click", () => transfer("blind"));
  $("btn-consult").addEventListener("click", () => transfer("consult"));
  $("btn-complete").addEventListener("click", () => command("complete_transfer"));
  $("btn-cancel").addEventListener("click", () => command("cancel_transfer"));
  $("transfer-target").addEventListener("change", renderControls);
  render();
}

/** Fills the region and transfer lists from hello's desk (and after a language switch). */
export function setDesk() {
  // The arrival sentence has been spoken: it is not left in the other language.
  $("announce").textContent = "";
  const regionSelect = $("region-select");
  regionSelect.replaceChildren(
    el("option", { value: "", text: t("choice.choose") }),
    ...session.desk.regions.map((r) => el("option", { value: r.id, text: regionName(r.id) })),
  );
  const target = $("transfer-target");
  const chosen = target.value;
  target.replaceChildren(
    el("option", { value: "", text: t("controls.choose_target") }),
    ...session.desk.centres.map((c) => el("option", { value: `centre:${c.id}`, text: t("controls.target_centre", { name: centreName(c.id) }) })),
    el("option", { value: "crisis", text: t("controls.target_crisis") }),
    ...session.desk.destinations.map((d) =>
      el("option", { value: `sip:${d.uri}`, text: d.centre ? t("controls.target_pbx", { name: centreName(d.centre) }) : d.name }),
    ),
  );
  target.value = chosen;
  render();
}

/** call_offered: a new pop, or the same call sent again after a reconnect. */
export function offered(pop) {
  performance.mark(`pop-received:${pop.call_id}`);
  if (call && call.pop.call_id === pop.call_id) {
    call.pop = { ...pop, region: call.pop.region, region_source: call.pop.region_source, arrived_ms: call.pop.arrived_ms };
    call.confirmed = true;
    render();
    markPainted(pop.call_id);
    return;
  }
  pop.arrived_ms = Date.now() - (pop.waited_s || 0) * 1000;
  call = { pop, status: "ringing", answered: false, revealed: null, history: null, confirmed: true, transferTarget: "" };
  notice = null;
  render();
  openForCall(summaryOf(pop));
  const announce = $("announce");
  announce.textContent = "";
  requestAnimationFrame(() => {
    announce.textContent = sentence(pop);
  });
  markPainted(pop.call_id);
}

/** The bench's mark once the pop is on screen: a frame callback runs before
 * that frame paints, so the mark waits for the task after it. */
function markPainted(callId) {
  requestAnimationFrame(() => setTimeout(() => performance.mark(`pop-painted:${callId}`), 0));
}

/** call_answered, call_ended, call_withdrawn, transfer_progress. */
export function callEvent(frame) {
  if (!call || call.pop.call_id !== frame.call_id) return;
  call.confirmed = true;
  switch (frame.type) {
    case "call_answered":
      call.answered = true;
      if (call.status === "ringing") call.status = "talking";
      openForCall(summaryOf(call.pop));
      break;
    case "call_ended":
      call.status = "ended";
      call.disposition = frame.disposition;
      break;
    case "call_withdrawn":
      formCallWithdrawn(frame.call_id, call.answered);
      notice = () => (frame.reason === "transferred" ? t("status.transferred") : t("status.withdrawn", { reason: label("withdrawn", frame.reason) }));
      call = null;
      break;
    case "transfer_progress":
      transferProgress(frame);
      break;
    case "call_held":
      call.held = frame.held;
      break;
  }
  render();
}

/** After a reconnect: the call on screen must be sent again, or it is over. */
export function unconfirm() {
  if (call) call.confirmed = false;
}

export function resumed() {
  if (call && !call.confirmed && LIVE.has(call.status)) {
    call.status = "ended";
    render();
  }
}

/** After the log of the shown call is saved: a call that is over leaves the screen. */
export function logSaved(callId) {
  if (call && call.pop.call_id === callId && !LIVE.has(call.status)) {
    call = null;
    notice = null;
    render();
  }
}

/** Forgets the call on screen (logout, another navigator). */
export function reset() {
  call = null;
  notice = null;
  render();
}

/** A short summary of the call, as drafts keep it (the server's CallSummary). */
function summaryOf(pop) {
  const { call_id, caller, language, region, region_source, centre, topic, crisis, ivr_path, arrived_ms } = pop;
  return { call_id, caller, language, region, region_source, centre, topic, crisis, ivr_path, arrived_ms };
}

function sentence(pop) {
  const vars = {
    region: pop.region ? regionName(pop.region) : t("announce.no_region"),
    language: label("language", pop.language),
    topic: pop.topic ? label("topic", pop.topic) : t("topic.none"),
  };
  return t(pop.crisis ? "announce.crisis" : "announce.call", vars);
}

function transferProgress(frame) {
  const target = call.transferTarget;
  const detail = frame.detail ? ` (${frame.detail})` : "";
  if (frame.state === "ringing" || frame.state === "answered") call.status = "consulting";
  if (frame.state === "failed" || frame.state === "cancelled") call.status = "talking";
  const text = known("transfer", frame.state) ? t(`transfer.${frame.state}`, { target }) : frame.state;
  $("transfer-status").textContent = text + detail;
}

export function render() {
  const pop = call?.pop;
  $("crisis-banner").hidden = !pop?.crisis;
  $("call-status").textContent = call ? callStatus() : notice ? notice() : t("status.none");
  $("pop-caller").textContent = pop ? callerText(pop.caller, pop.crisis || Boolean(call.revealed)) : "—";
  if (call?.revealed) $("pop-caller").textContent = callerText(call.revealed, true);
  const withheld = !pop || pop.caller === "anonymous";
  $("pop-caller-hint").hidden = withheld || pop.crisis || Boolean(call.revealed);
  const revealButton = $("reveal");
  revealButton.hidden = withheld || pop.crisis;
  revealButton.textContent = t(call?.revealed ? "pop.hide" : "pop.reveal");
  revealButton.setAttribute("aria-pressed", String(Boolean(call?.revealed)));
  $("pop-language").textContent = pop ? label("language", pop.language) : "—";
  $("pop-region").textContent = pop ? regionName(pop.region) : "—";
  $("pop-region-source").textContent = pop?.region_source ? `(${label("source", pop.region_source)})` : "";
  $("region-select").disabled = $("region-fix").disabled = !pop;
  $("region-select").value = pop?.region ?? "";
  $("pop-centre").textContent = pop ? centreName(pop.centre) : "—";
  $("pop-topic").textContent = pop ? (pop.topic ? label("topic", pop.topic) : t("topic.none")) : "—";
  $("pop-path").textContent = pop?.ivr_path?.length ? pop.ivr_path.map(pathStep).join(" → ") : "—";
  $("pop-waited").textContent = pop ? fmtDuration(pop.waited_s || 0) : "—";
  $("pop-callback").hidden = !pop?.callback;
  $("pop-emergency").hidden = !pop?.emergency_mode;
  $("pop-emergency").textContent = pop?.incident ? t("pop.emergency_incident", { tag: pop.incident }) : t("pop.emergency");
  renderPrevious();
  renderControls();
}

function callStatus() {
  switch (call.status) {
    case "ended":
      return call.disposition ? t("status.ended_as", { disposition: label("disposition", call.disposition) }) : t("status.ended");
    case "talking":
      return call.held ? t("status.held") : t("status.talking");
    default:
      return t(`status.${call.status}`);
  }
}

function renderPrevious() {
  const contacts = call ? call.history ?? call.pop.previous_contacts ?? [] : [];
  const body = $("previous-table").tBodies[0];
  body.replaceChildren(
    ...contacts.flatMap((c) => [
      el(
        "tr",
        { class: c.crisis ? "crisis-row" : null },
        el("td", { text: fmtDateTime(c.at_ms) }),
        el("td", { text: c.centre ? centreName(c.centre) : "—" }),
        el("td", { text: [c.topic ? label("topic", c.topic) : "—", c.crisis ? t("common.crisis") : ""].filter(Boolean).join(" · ") }),
        el("td", { text: c.needs?.length ? c.needs.map((n) => t(n.met ? "previous.need_met" : "previous.need_unmet", { code: n.code })).join(", ") : "—" }),
        el("td", { text: c.disposition ? label("disposition", c.disposition) : "—" }),
        el("td", { text: c.follow_up ? `${fmtDate(c.follow_up.due)} — ${c.follow_up.reason}` : "—" }),
      ),
      // The services the caller was referred to, on a line of their own under the contact.
      c.referrals?.length
        ? el(
            "tr",
            { class: c.crisis ? "prev-referrals crisis-row" : "prev-referrals" },
            el("td", { colspan: 6, text: t("previous.referred", { names: c.referrals.map((r) => r.name).join(", ") }) }),
          )
        : null,
    ]).filter(Boolean),
  );
  $("previous-scroll").hidden = contacts.length === 0;
  const none = $("previous-none");
  none.hidden = contacts.length > 0;
  none.textContent = !call ? "" : call.pop.caller === "anonymous" ? t("previous.withheld") : t("previous.none");
  $("history-more").hidden = !call || call.pop.caller === "anonymous" || call.history !== null;
}

function renderControls() {
  const talking = call?.status === "talking";
  const consulting = call?.status === "consulting";
  const target = $("transfer-target").value;
  $("btn-hangup").disabled = !(talking || consulting);
  const hold = $("btn-hold");
  hold.disabled = !talking;
  // The label says what a press does: hold, or take the caller back.
  hold.textContent = t(talking && call.held ? "controls.resume" : "controls.hold");
  $("transfer-target").disabled = !talking;
  $("btn-transfer").disabled = !talking || !target;
  $("btn-consult").disabled = !talking || !target.startsWith("sip:");
  $("btn-complete").disabled = $("btn-cancel").disabled = !consulting;
  if (!call) $("transfer-status").textContent = "";
}

/** Sends a command about the shown call; errors go to the desk's alert line. */
async function command(type, fields = {}) {
  if (!call) return null;
  deskMessage("");
  try {
    return await cti.send(type, { call_id: call.pop.call_id, ...fields });
  } catch (err) {
    deskMessage(errorText(err));
    return null;
  }
}

async function reveal() {
  if (call.revealed) {
    call.revealed = null;
    render();
    return;
  }
  const answer = await command("reveal_caller");
  if (answer && call && answer.call_id === call.pop.call_id) {
    call.revealed = answer.caller;
    render();
  }
}

async function correctRegion() {
  const region = $("region-select").value;
  const callId = call.pop.call_id;
  if (!region || (await command("correct_region", { region })) === null) return;
  if (call && call.pop.call_id === callId) {
    call.pop.region = region;
    call.pop.region_source = "navigator_correction";
    $("transfer-status").textContent = t("pop.region_fixed", { region: regionName(region) });
    render();
    // The log shown (and its directory search) follows.
    if (formCallId() === callId) openForCall(summaryOf(call.pop));
  }
}

async function moreHistory() {
  const answer = await command("history");
  if (answer && call && answer.call_id === call.pop.call_id) {
    call.history = answer.contacts ?? [];
    render();
    const scroll = $("previous-scroll");
    (scroll.hidden ? $("pop-title") : scroll).focus();
  }
}

function hangup() {
  command("hangup");
}

function targetOf(value) {
  if (value === "crisis") return { kind: "crisis" };
  const [kind, ...rest] = value.split(":");
  return kind === "centre" ? { kind, centre: rest.join(":") } : { kind: "sip", uri: rest.join(":") };
}

async function transfer(mode) {
  const select = $("transfer-target");
  if (!select.value) return;
  call.transferTarget = select.selectedOptions[0].textContent;
  const fields = { target: targetOf(select.value) };
  if (mode === "consult") fields.mode = "consult";
  const answer = await command("transfer", fields);
  if (answer && call) {
    if (mode === "consult") call.status = "consulting";
    $("transfer-status").textContent = t(mode === "consult" ? "transfer.ringing" : "transfer.sent", { target: call.transferTarget });
    render();
  }
}
