// app.js — the entry module: the three views (login, session ended, desk),
// the header and its language toggle, the agent state bar, the keyboard
// shortcuts, and the dispatch of every websocket frame to the modules.

import { $ } from "./dom.js";
import { t, label, setLang, getLang, otherLang, onLangChange, fmtClock } from "./i18n.js";
import { api, getToken, setToken, onSessionExpired } from "./api.js";
import { Cti } from "./ws.js";
import { session, serverNow, centreName, errorText, deskMessage } from "./session.js";
import * as pop from "./pop.js";
import * as form from "./form.js";
import * as directory from "./directory.js";
import * as drafts from "./drafts.js";
import * as followups from "./followups.js";
import { initPhone, phoneFrame, relabelPhone, phoneOffered, phoneCallEvent, phoneAnswerKey, phoneMuteKey, phoneSignedIn, phoneSignedOut } from "./phone.js";
import { initLogin, relabelLogin } from "./login.js";

const LANG_KEY = "frontdoor.lang";
const USER_KEY = "frontdoor.user";

let view = null;
let state = null; // the agent state (StateInfo)
let lastPop = null; // the last call_offered frame
let connStatus = "offline";
let applyServerLanguage = true; // hello's ui_language counts once per login, unless chosen on the login page
let freshLogin = true; // the next hello is the first of this login

const cti = new Cti({
  onFrame,
  onStatus: (s) => {
    connStatus = s;
    renderConn();
  },
  onResumed: () => {
    pop.resumed();
    drafts.renderList();
  },
  checkSession: async () => {
    try {
      await api("GET", "/api/me");
      return true;
    } catch (err) {
      return err.status !== 401; // a 401 has already shown the expired view
    }
  },
});

function start() {
  const stored = localStorage.getItem(LANG_KEY);
  setLang(stored ?? (navigator.language?.toLowerCase().startsWith("fr") ? "fr" : "en"));
  pop.initPop(cti);
  initPhone(cti);
  form.initForm(cti);
  directory.initDirectory({ callId: form.formCallId, refer: form.addReferral, needCodes: form.needCodes, referredIds: form.referredIds });
  drafts.initDrafts(cti, { formCallId: form.formCallId, liveCall: pop.hasLiveCall, open: form.openDraft });
  followups.initFollowups(cti);
  onSessionExpired(sessionExpired);
  onLangChange(relabel);
  relabel();

  $("lang-toggle").addEventListener("click", toggleLanguage);
  initLogin({ signedIn, words: errorText });
  $("relogin").addEventListener("click", () => showView("login"));
  $("logout").addEventListener("click", logout);
  $("btn-ready").addEventListener("click", () => setState("ready"));
  $("btn-not-ready").addEventListener("click", () => setState("not_ready"));
  document.addEventListener("keydown", shortcut);
  window.addEventListener("online", () => cti.nudge());
  setInterval(renderState, 1000);

  Object.defineProperty(window, "frontdoorDesk", {
    value: Object.freeze({
      get state() {
        return state && structuredClone(state);
      },
      get lastPop() {
        return lastPop && structuredClone(lastPop);
      },
      get ready() {
        return view === "desk" && cti.ready;
      },
      get view() {
        return view;
      },
    }),
  });

  if (getToken()) enterDesk();
  else showView("login");
}

// ——— Views ———

function showView(name) {
  view = name;
  for (const v of ["login", "expired", "desk"]) $(`${v}-view`).hidden = v !== name;
  const desk = name === "desk";
  $("me").hidden = $("conn").hidden = $("logout").hidden = !desk;
  renderMe();
  if (name === "login") {
    if (session.account?.username) $("username").value = session.account.username;
    ($("username").value ? $("password") : $("username")).focus();
  } else {
    $(`${name}-title`).focus();
  }
}

function enterDesk() {
  freshLogin = true;
  showView("desk");
  cti.start(getToken());
}

async function signedIn(username) {
  if (sessionStorage.getItem(USER_KEY) !== username) cti.resetSeq();
  sessionStorage.setItem(USER_KEY, username);
  if (!applyServerLanguage) api("PUT", "/api/me/language", { language: getLang() }).catch(() => {});
  enterDesk();
}

/** Any 401: stop, keep everything typed, and say so. */
function sessionExpired() {
  if (view === "expired" || view === "login") return;
  cti.stop(true);
  followups.stopFollowups();
  phoneSignedOut();
  setToken(null);
  applyServerLanguage = true;
  showView("expired");
}

async function logout() {
  const callId = form.formCallId();
  if (callId) drafts.flush(callId);
  try {
    await api("POST", "/api/logout");
  } catch {
    // the token goes from this tab either way
  }
  cti.stop();
  cti.resetSeq();
  setToken(null);
  sessionStorage.removeItem(USER_KEY);
  followups.stopFollowups();
  phoneSignedOut();
  form.closeLog();
  pop.reset();
  drafts.setUser(null);
  state = null;
  applyServerLanguage = true;
  $("desk-message").textContent = "";
  showView("login");
}

// ——— Language ———

function toggleLanguage() {
  const next = otherLang();
  setLang(next);
  localStorage.setItem(LANG_KEY, next);
  if (view === "desk" && getToken()) api("PUT", "/api/me/language", { language: next }).catch(() => {});
  else applyServerLanguage = false;
}

function relabel() {
  const toggle = $("lang-toggle");
  toggle.textContent = t("lang.other");
  toggle.lang = otherLang();
  renderConn();
  renderMe();
  renderReasons();
  renderState();
  relabelLogin();
  pop.setDesk();
  form.relabel();
  directory.relabel();
  relabelPhone();
  drafts.renderList();
  drafts.showStatus();
  followups.render();
}

// ——— Header and state bar ———

function renderConn() {
  const node = $("conn");
  node.textContent = t(`conn.${connStatus}`);
  node.dataset.status = connStatus;
}

function renderMe() {
  const a = session.account;
  $("me").textContent = a ? `${a.username} · ${centreName(a.centre)}` : "";
  // Supervisors and operations staff read the reports (same tab: same login).
  $("reports-link").hidden = $("board-link").hidden = view !== "desk" || !a || a.role === "navigator";
}

function renderReasons() {
  const select = $("nr-reason");
  const chosen = select.value;
  select.replaceChildren(...session.notReadyReasons.map((code) => new Option(label("reason", code), code)));
  if (chosen) select.value = chosen;
}

function stateText(s) {
  if (s.state === "not_ready" && s.reason) return t("state.not_ready_reason", { reason: label("reason", s.reason) });
  if (s.state === "wrap_up" && s.wrap_up_until_ms) return t("state.wrap_up_left", { time: fmtClock((s.wrap_up_until_ms - serverNow()) / 1000) });
  return label("state", s.state);
}

function renderState() {
  $("state-bar").dataset.state = state?.state ?? "";
  $("state-name").textContent = state ? stateText(state) : "";
  $("state-time").textContent = state ? fmtClock((serverNow() - state.since_ms) / 1000, true) : "";
  const next = $("next-state");
  next.hidden = !state?.next_state;
  next.textContent = state?.next_state ? t("state.next", { state: stateText({ state: state.next_state, reason: state.next_reason }) }) : "";
}

async function setState(requested) {
  deskMessage("");
  const fields = { state: requested };
  if (requested === "not_ready") fields.reason = $("nr-reason").value;
  try {
    await cti.send("set_state", fields);
  } catch (err) {
    deskMessage(errorText(err));
  }
}

// ——— Frames ———

function onFrame(frame, { replay, answered }) {
  switch (frame.type) {
    case "hello":
      onHello(frame);
      break;
    case "state_changed":
      if (!replay) {
        const { type, seq, ...info } = frame;
        state = info;
        renderState();
      }
      break;
    case "call_offered":
      if (!replay) {
        const { type, seq, ...offer } = frame;
        lastPop = offer;
        pop.offered(offer);
        phoneOffered(offer);
        drafts.renderList();
      }
      break;
    case "call_answered":
      if (!replay) pop.callEvent(frame);
      phoneCallEvent(frame);
      drafts.renderList();
      break;
    case "call_ended":
    case "call_withdrawn":
    case "transfer_progress":
    case "call_held":
      pop.callEvent(frame);
      phoneCallEvent(frame);
      drafts.renderList();
      break;
    case "log_saved":
      form.logSaved(frame);
      pop.logSaved(frame.call_id);
      drafts.renderList();
      // A log may have promised a follow-up due today.
      followups.refresh();
      break;
    case "heartbeat":
      session.skewMs = frame.at_ms - Date.now();
      break;
    case "phone_state":
      if (!replay) phoneFrame(frame);
      break;
    case "error":
      if (!answered && !replay && frame.code !== "resume_gap") deskMessage(errorText(frame));
      break;
  }
}

function onHello(frame) {
  const previous = session.account?.username;
  session.account = frame.account;
  session.desk = { centres: [], regions: [], destinations: [], ...frame.desk };
  session.notReadyReasons = frame.not_ready_reasons ?? [];
  if (previous && previous !== frame.account.username) {
    form.closeLog();
    pop.reset();
  }
  drafts.setUser(frame.account.username);
  if (freshLogin && applyServerLanguage && frame.ui_language && frame.ui_language !== getLang()) {
    setLang(frame.ui_language);
    localStorage.setItem(LANG_KEY, frame.ui_language);
  }
  state = frame.state;
  relabel();
  pop.unconfirm();
  drafts.merge(frame.drafts ?? []);
  form.reopenLast();
  if (freshLogin) {
    followups.startFollowups();
    phoneSignedIn();
  }
  freshLogin = false;
}

// ——— Keyboard ———

const SHORTCUTS = {
  KeyA: () => phoneAnswerKey(),
  KeyM: () => phoneMuteKey(),
  KeyR: () => setState("ready"),
  KeyN: () => setState("not_ready"),
  KeyH: () => {
    if ($("btn-hangup").disabled) deskMessage(t("controls.no_call"));
    else $("btn-hangup").click();
  },
  KeyT: () => {
    if ($("transfer-target").disabled) deskMessage(t("controls.no_call"));
    else $("transfer-target").focus();
  },
  KeyL: () => form.focusLog(),
  KeyS: () => form.submit(),
  KeyF: () => followups.focusFollowups(),
};

function shortcut(ev) {
  if (view !== "desk" || !ev.altKey || !ev.shiftKey || ev.ctrlKey || ev.metaKey) return;
  if (ev.isComposing || ev.keyCode === 229 || ev.repeat) return;
  const action = SHORTCUTS[ev.code];
  if (!action) return;
  ev.preventDefault();
  action();
}

start();
