// supervisor.js — the wallboard (/supervisor): a supervisor's centre and the
// crisis queue, live by push over the wallboard's websocket (GET
// /cti/supervisor, docs/cti-protocol.md): callers waiting, navigators and
// their time in state, today's figures against the targets, and alerts
// that are shown at the top and read out once each. Actions (set a
// navigator not ready or log them out, join a navigator's call on one's
// own phone — listen in, whisper, barge in —, requeue or resolve a failed
// callback) go through the HTTP API and are audited there.

import { $, el } from "./dom.js";
import { t, label, known, setLang, getLang, otherLang, onLangChange, fmtClock, fmtDate } from "./i18n.js";
import { api, getToken, setToken, onSessionExpired } from "./api.js";
import { initLogin, relabelLogin } from "./login.js";
import { callerText, errorText as errorWords } from "./session.js";

const LANG_KEY = "frontdoor.lang";
const LANGUAGES = ["en", "fr"];
/** No frame for this many heartbeats: the connection is given up and made again. */
const SILENT_HEARTBEATS = 3;

let view = null; // "login" | "denied" | "board"
let me = null; // GET /api/me
let hello = null; // the websocket's hello
let board = null; // the last board
let skewMs = 0; // the server's clock minus this computer's
let conn = "offline";
let statusText = null; // () => the last action's outcome
let announced = new Set(); // alert ids read out already
let applyServerLanguage = true;
const firstSeen = new Map(); // call id → the first board that showed it: {waited_s, at_ms, received_ms}
const confirming = new Set(); // navigators whose "log out" waits for a second press

const serverNow = () => Date.now() + skewMs;
/** How often the centre's overdue follow-ups are read again. */
const FOLLOWUPS_EVERY_MS = 60_000;
let followups = null; // the centre's follow-ups not done (GET /api/follow-ups?scope=centre)
let followupsTimer = null;

function start() {
  const stored = localStorage.getItem(LANG_KEY);
  setLang(stored ?? (navigator.language?.toLowerCase().startsWith("fr") ? "fr" : "en"));
  onSessionExpired(sessionExpired);
  onLangChange(relabel);
  relabel();
  $("lang-toggle").addEventListener("click", toggleLanguage);
  initLogin({ signedIn, words: errorWords });
  $("logout").addEventListener("click", logout);
  setInterval(tick, 1000);

  Object.defineProperty(window, "frontdoorBoard", {
    value: Object.freeze({
      /** A board has arrived on the current connection. */
      get ready() {
        return view === "board" && board !== null && conn === "connected";
      },
      /** The last board (the frame's JSON). */
      get lastBoard() {
        return board && structuredClone(board);
      },
      get view() {
        return view;
      },
      /** Each call seen, as the first board that showed it had it. */
      get firstSeen() {
        return Object.fromEntries(firstSeen);
      },
    }),
  });

  if (getToken()) enter();
  else showView("login");
}

// ——— Views and session ———

function showView(name) {
  view = name;
  $("page-loading").hidden = true;
  for (const v of ["login", "denied", "board"]) $(`${v}-view`).hidden = v !== name;
  const inside = name !== "login";
  $("me").hidden = $("logout").hidden = !inside;
  $("conn").hidden = name !== "board";
  $("reports-link").hidden = name !== "board";
  renderMe();
  if (name === "login") {
    if (me?.username) $("username").value = me.username;
    ($("username").value ? $("password") : $("username")).focus();
  } else {
    $(`${name}-title`).focus();
  }
}

async function signedIn() {
  applyServerLanguage = false;
  $("login-expired").hidden = true;
  await enter();
}

async function enter() {
  try {
    me = await api("GET", "/api/me");
  } catch (err) {
    if (err.status === 401) return;
    showView("login");
    $("login-error").textContent = errorWords(err);
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
  board = null;
  announced = new Set();
  showView("board");
  render();
  socket.open();
  loadFollowups();
}

/** The centre's overdue follow-ups: read now and every minute while the board is open. */
async function loadFollowups() {
  clearTimeout(followupsTimer);
  if (view !== "board") return;
  try {
    followups = await api("GET", "/api/follow-ups?scope=centre");
  } catch {
    // kept as last read; tried again at the next turn
  }
  renderFollowups();
  followupsTimer = setTimeout(loadFollowups, FOLLOWUPS_EVERY_MS);
}

function renderFollowups() {
  const overdue = (followups ?? []).filter((f) => f.status === "overdue").sort((a, b) => a.due.localeCompare(b.due));
  $("followups-none").hidden = overdue.length > 0;
  $("followup-table").closest(".scroll").hidden = overdue.length === 0;
  $("followup-table").tBodies[0].replaceChildren(
    ...overdue.map((f) =>
      el(
        "tr",
        { "data-log": f.log_id },
        el("td", { text: fmtDate(f.due) }),
        el("td", { text: callerText(f.caller) }),
        el("td", { text: f.navigator ?? "" }),
        el("td", { text: f.reason ?? "" }),
        el("td", { class: "num", text: String(f.attempts ?? 0) }),
      ),
    ),
  );
}

function sessionExpired() {
  socket.close();
  if (view === "login") return;
  setToken(null);
  $("login-expired").hidden = false;
  showView("login");
}

async function logout() {
  socket.close();
  try {
    await api("POST", "/api/logout");
  } catch {
    // the token goes from this tab either way
  }
  setToken(null);
  me = null;
  board = null;
  showView("login");
}

async function toggleLanguage() {
  const next = otherLang();
  setLang(next);
  localStorage.setItem(LANG_KEY, next);
  if (getToken() && me) {
    try {
      await api("PUT", "/api/me/language", { language: next });
    } catch {
      // the page still switches; the account's choice is kept next time
    }
  }
}

function relabel() {
  $("lang-toggle").textContent = t("lang.other");
  $("lang-toggle").setAttribute("lang", otherLang());
  document.title = t("board.page_title");
  relabelLogin();
  renderMe();
  setConn(conn);
  if (view === "board") render();
}

function renderMe() {
  if (!me) return;
  $("me").textContent = t("board.me", { user: me.username, role: label("board.role", me.role) });
}

// ——— The websocket ———

const socket = {
  ws: null,
  attempt: 0,
  retry: null,
  lastHeard: 0,
  stopped: true,

  open() {
    this.stopped = false;
    clearTimeout(this.retry);
    this.connect();
  },

  close() {
    this.stopped = true;
    clearTimeout(this.retry);
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onmessage = ws.onclose = null;
      ws.close();
    }
    setConn("offline");
  },

  connect() {
    setConn(this.attempt ? "reconnecting" : "connecting");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    let ws;
    try {
      ws = new WebSocket(`${scheme}://${location.host}/cti/supervisor?token=${encodeURIComponent(getToken() ?? "")}`);
    } catch {
      this.closed(false);
      return;
    }
    this.ws = ws;
    this.lastHeard = Date.now();
    let heard = false;
    ws.onmessage = (ev) => {
      heard = true;
      this.lastHeard = Date.now();
      receive(ev.data);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      // 4001: the login ended; a refusal before any word may be the same.
      this.closed(ev.code === 4001 || !heard);
    };
  },

  async closed(checkSession) {
    if (this.stopped) return;
    setConn("reconnecting");
    if (checkSession) {
      try {
        await api("GET", "/api/me");
      } catch (err) {
        if (err.status === 401) return; // sessionExpired took over
      }
    }
    if (this.stopped) return;
    const delay = Math.min(5000, 500 * 2 ** this.attempt) * (0.8 + Math.random() * 0.2);
    this.attempt += 1;
    this.retry = setTimeout(() => this.connect(), delay);
  },

  /** Gives up on a connection that went silent. */
  watch() {
    const limit = SILENT_HEARTBEATS * (hello?.heartbeat_s ?? 20) * 1000;
    if (this.ws && conn === "connected" && Date.now() - this.lastHeard > limit) {
      const ws = this.ws;
      this.ws = null;
      ws.onmessage = ws.onclose = null;
      ws.close();
      this.closed(false);
    }
  },
};

function receive(data) {
  let frame;
  try {
    frame = JSON.parse(data);
  } catch {
    return;
  }
  if (!frame || typeof frame !== "object") return;
  if (frame.type === "hello") {
    hello = frame;
    return;
  }
  if (frame.type === "heartbeat") {
    skewMs = frame.at_ms - Date.now();
    return;
  }
  if (frame.type === "board") {
    skewMs = frame.at_ms - Date.now();
    board = frame;
    for (const line of frame.queues) {
      for (const c of line.waiting) {
        if (!firstSeen.has(c.call_id)) firstSeen.set(c.call_id, { waited_s: c.waited_s, at_ms: frame.at_ms, received_ms: Date.now() });
      }
    }
    socket.attempt = 0;
    setConn("connected");
    render();
  }
}

function setConn(status) {
  conn = status;
  $("conn").dataset.status = status;
  $("conn").textContent = t(`conn.${status}`);
}

function tick() {
  socket.watch();
  if (view === "board" && board) renderTimes();
}

// ——— The board ———

function queueName(queue) {
  if (queue === "crisis") return t("reports.queue.crisis");
  const centre = queue.replace(/^centre:/, "");
  return known("centre", centre) ? label("centre", centre) : centre;
}

const langName = (code) => label("board.lang", code);

/** Seconds since the board was taken, added to its waits. */
const aged = () => Math.max(0, Math.floor((serverNow() - board.at_ms) / 1000));

function render() {
  const own = me?.role === "supervisor" ? queueName(`centre:${me.centre}`) : t("board.all_centres");
  $("board-title").textContent = t("board.heading", { centre: own });
  $("board-waiting").hidden = board !== null;
  for (const id of ["alerts", "queue-table", "waiting-table", "navigator-table", "callback-table", "followup-table"]) {
    $(id).closest("section").hidden = board === null;
  }
  if (!board) return;
  renderAlerts();
  renderQueues();
  renderWaiting();
  renderNavigators();
  renderCallbacks();
  renderFollowups();
  $("short-abandon-note").textContent = t("board.short_abandon_note", { s: board.short_abandon_s });
  $("action-status").textContent = statusText ? statusText() : "";
}

/** Only the clocks: waits and time in state. */
function renderTimes() {
  const age = aged();
  for (const cell of document.querySelectorAll("[data-waited]")) {
    cell.textContent = fmtClock(Number(cell.dataset.waited) + age);
  }
  for (const cell of document.querySelectorAll("[data-since]")) {
    cell.textContent = fmtClock((serverNow() - Number(cell.dataset.since)) / 1000);
  }
}

function alertText(a) {
  const queue = a.queue ? queueName(a.queue) : "";
  const lang = a.language ? langName(a.language) : "";
  switch (a.kind) {
    case "crisis_waiting":
      return t("board.alert.crisis_waiting", { lang, limit: fmtClock(a.limit) });
    case "callback_failed":
      return t("board.alert.callback_failed", { queue, lang, attempts: a.value });
    case "service_level":
      return t("board.alert.service_level", { queue, lang, level: pct(a.value), target: pct(a.limit) });
    case "long_wrap_up":
      return t("board.alert.long_wrap_up", { user: a.navigator, limit: fmtClock(a.limit) });
    case "long_not_ready":
      return t("board.alert.long_not_ready", { user: a.navigator, limit: fmtClock(a.limit) });
    default:
      return a.id;
  }
}

function renderAlerts() {
  const alerts = board.alerts;
  $("alerts-title").textContent = t("board.alerts_title", { n: alerts.length });
  $("alerts").dataset.count = String(alerts.length);
  $("alerts-none").hidden = alerts.length > 0;
  $("alert-list").replaceChildren(
    ...alerts.map((a) =>
      el(
        "li",
        { class: `alert alert-${a.kind}`, "data-alert": a.id },
        el("strong", { text: label("board.alert_kind", a.kind) }),
        " ",
        alertText(a),
        a.since_ms ? el("span", { class: "alert-time" }, " · ", el("span", { "data-since": a.since_ms })) : null,
      ),
    ),
  );
  // Each alert is read out once, when it begins.
  const fresh = alerts.filter((a) => !announced.has(a.id));
  if (fresh.length) $("alert-announce").textContent = fresh.map((a) => `${label("board.alert_kind", a.kind)}: ${alertText(a)}`).join(". ");
  announced = new Set(alerts.map((a) => a.id));
  document.title = alerts.length ? `(${alerts.length}) ${t("board.page_title")}` : t("board.page_title");
}

const pct = (v) => new Intl.NumberFormat(getLang() === "fr" ? "fr-CA" : "en-CA", { maximumFractionDigits: 1 }).format(v) + " %";
const secs = (v) => (v === null || v === undefined ? "—" : fmtClock(v));

function renderQueues() {
  const rows = [];
  for (const line of board.queues) {
    for (const lang of LANGUAGES) {
      const calls = line.waiting.filter((c) => c.language === lang && c.state !== "dialling" && !c.callback);
      const day = board.today.find((d) => d.queue === line.queue && d.language === lang);
      const longest = calls.reduce((m, c) => Math.max(m, c.waited_s), -1);
      const level = day?.service_level_percent;
      const breach = level !== null && level !== undefined && level < day.target_percent;
      rows.push(
        el(
          "tr",
          { "data-queue": line.queue, "data-lang": lang, class: line.queue === "crisis" ? "crisis-row" : null },
          el("th", { scope: "row", text: queueName(line.queue) }),
          el("td", { text: langName(lang) }),
          el("td", { class: "num", "data-col": "waiting", text: String(calls.length) }),
          longest < 0 ? el("td", { class: "num", text: "—" }) : el("td", { class: "num", "data-waited": longest, text: fmtClock(longest + aged()) }),
          el("td", { class: "num", "data-col": "offered", text: String(day?.offered ?? 0) }),
          el("td", { class: "num", "data-col": "answered", text: String(day?.answered ?? 0) }),
          el("td", { class: "num", "data-col": "abandoned", text: String(day?.abandoned ?? 0) }),
          el("td", { class: "num", "data-col": "short_abandoned", text: String(day?.short_abandoned ?? 0) }),
          el(
            "td",
            { class: breach ? "num breach" : "num", "data-col": "service_level" },
            level === null || level === undefined ? "—" : pct(level),
            el("span", { class: "target", text: ` ${t("board.target", { pct: pct(line.target_percent), s: line.target_within_s })}` }),
          ),
          el("td", { class: "num", text: secs(day?.average_speed_of_answer_s) }),
          el("td", { class: "num", text: secs(day?.average_handle_s) }),
          el("td", { class: "num", text: String(day?.callbacks_requested ?? 0) }),
        ),
      );
    }
  }
  $("queue-table").tBodies[0].replaceChildren(...rows);
}

function renderWaiting() {
  const calls = board.queues.flatMap((line) => line.waiting.map((c) => ({ ...c, queue: line.queue })));
  $("waiting-none").hidden = calls.length > 0;
  $("waiting-table").closest(".scroll").hidden = calls.length === 0;
  $("waiting-table").tBodies[0].replaceChildren(
    ...calls.map((c) =>
      el(
        "tr",
        { "data-call": c.call_id, class: c.crisis ? "crisis-row" : null },
        el("td", { text: queueName(c.queue) }),
        el("td", { text: langName(c.language) }),
        el("td", { text: callerText(c.caller) }),
        el("td", { text: [label("board.call_state", c.callback ? "callback" : c.state), c.crisis ? t("common.crisis") : null].filter(Boolean).join(" · ") }),
        el("td", { class: "num", "data-waited": c.waited_s, text: fmtClock(c.waited_s + aged()) }),
      ),
    ),
  );
}

function stateText(n) {
  const state = label("state", n.state);
  return n.state === "not_ready" && n.reason ? `${state} — ${label("reason", n.reason)}` : state;
}

/**
 * The navigators' rows are kept (matched by username) and only their text
 * changes, so a choice being made in a row's controls survives every board.
 */
function renderNavigators() {
  const navs = [...board.navigators].sort((a, b) => a.username.localeCompare(b.username));
  const counts = {};
  for (const n of navs) counts[n.state] = (counts[n.state] ?? 0) + 1;
  $("navigator-counts").textContent = Object.entries(counts)
    .map(([state, n]) => t("board.state_count", { state: label("state", state), n }))
    .join(" · ");
  $("navigators-none").hidden = navs.length > 0;
  $("navigator-table").closest(".scroll").hidden = navs.length === 0;
  const body = $("navigator-table").tBodies[0];
  const rows = new Map([...body.rows].map((r) => [r.dataset.navigator, r]));
  const wanted = navs.map((n) => {
    const row = rows.get(n.username) ?? navigatorRow(n.username);
    updateNavigatorRow(row, n);
    return row;
  });
  const same = wanted.length === body.rows.length && wanted.every((r, i) => body.rows[i] === r);
  if (!same) body.replaceChildren(...wanted);
}

function navigatorRow(username) {
  const id = `nr-${username.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  const select = el("select", { id, class: "nr-reason" });
  const row = el(
    "tr",
    { "data-navigator": username },
    el("th", { scope: "row", text: username }),
    el("td", { class: "nav-state" }),
    el("td", { class: "num nav-time" }),
    el("td", { class: "nav-langs" }),
    el(
      "td",
      { class: "nav-monitor" },
      el("span", { class: "monitor-status" }),
      el(
        "span",
        { class: "monitor-actions" },
        ...MONITOR_MODES.map((mode) =>
          el("button", { type: "button", class: `mon-${mode}`, "aria-pressed": "false", onclick: () => monitor(username, mode) }),
        ),
        el("button", { type: "button", class: "mon-off", onclick: () => monitor(username, "off") }),
      ),
    ),
    el(
      "td",
      { class: "nav-actions" },
      el("label", { for: id, class: "sr-only" }),
      select,
      el("button", { type: "button", class: "set-not-ready", onclick: () => forceNotReady(username, select.value) }),
      el("button", { type: "button", class: "force-logout danger", onclick: () => forceLogout(username) }),
      el("button", { type: "button", class: "cancel-logout", hidden: true, onclick: () => cancelLogout(username) }),
    ),
  );
  return row;
}

function updateNavigatorRow(row, n) {
  const username = n.username;
  row.dataset.state = n.state;
  row.querySelector(".nav-state").textContent = stateText(n);
  const time = row.querySelector(".nav-time");
  if (n.since_ms) {
    time.dataset.since = n.since_ms;
    time.textContent = fmtClock((serverNow() - n.since_ms) / 1000);
  } else {
    delete time.dataset.since;
    time.textContent = "—";
  }
  row.querySelector(".nav-langs").textContent = n.languages.map(langName).join(", ");
  const select = row.querySelector("select");
  const reasons = hello?.not_ready_reasons ?? [];
  const chosen = select.value || reasons[0];
  if (select.options.length !== reasons.length || getLang() !== select.dataset.lang) {
    select.replaceChildren(...reasons.map((r) => el("option", { value: r, text: label("reason", r) })));
    select.dataset.lang = getLang();
    select.value = chosen;
  }
  row.querySelector("label").textContent = t("board.reason_for", { user: username });
  const out = n.state === "logged_out";
  const setButton = row.querySelector(".set-not-ready");
  setButton.textContent = t("board.set_not_ready");
  setButton.setAttribute("aria-label", t("board.set_not_ready_for", { user: username }));
  setButton.disabled = out;
  select.disabled = out;
  const confirm = confirming.has(username);
  const logoutButton = row.querySelector(".force-logout");
  logoutButton.textContent = confirm ? t("board.confirm_logout") : t("board.logout");
  logoutButton.setAttribute("aria-label", t(confirm ? "board.confirm_logout_for" : "board.logout_for", { user: username }));
  logoutButton.disabled = out;
  const cancel = row.querySelector(".cancel-logout");
  cancel.hidden = !confirm;
  cancel.textContent = t("board.cancel");
  updateMonitor(row, n);
}

const MONITOR_MODES = ["listen", "whisper", "barge"];

/** What a supervisor on the navigator's call is doing, and the buttons to join, change or leave. */
function updateMonitor(row, n) {
  const m = n.monitor ?? null;
  const mine = m?.supervisor === me?.username;
  const live = m && m.state !== "ended";
  const talking = n.state === "busy";
  let status = "";
  if (m && m.state === "ringing") {
    status = mine ? t("board.mon.ringing_mine") : t("board.mon.ringing", { sup: m.supervisor });
  } else if (m && m.state === "connected") {
    status = t(`board.mon.${mine ? "mine" : "other"}.${m.mode}`, { sup: m.supervisor });
  } else if (m && m.state === "ended" && talking) {
    const why = known("board.mon.why", m.detail) ? t(`board.mon.why.${m.detail}`) : (m.detail ?? "");
    status = t("board.mon.ended", { sup: mine ? me.username : m.supervisor, why });
  }
  const statusNode = row.querySelector(".monitor-status");
  statusNode.textContent = status;
  statusNode.hidden = !status;
  row.querySelector(".monitor-actions").hidden = !talking;
  for (const mode of MONITOR_MODES) {
    const button = row.querySelector(`.mon-${mode}`);
    button.textContent = t(`board.mon.${mode}`);
    button.setAttribute("aria-label", t(`board.mon.${mode}_for`, { user: n.username }));
    button.setAttribute("aria-pressed", String(Boolean(mine && live && m.mode === mode)));
  }
  const off = row.querySelector(".mon-off");
  off.textContent = t("board.mon.off");
  off.setAttribute("aria-label", t("board.mon.off_for", { user: n.username }));
  off.hidden = !(mine && live);
}

/** Joins `username`'s call on this supervisor's phone in `mode`, changes the mode, or leaves (`off`). */
function monitor(username, mode) {
  const row = document.querySelector(`tr[data-navigator="${CSS.escape(username)}"]`);
  const current = board?.navigators.find((n) => n.username === username)?.monitor;
  const joined = current && current.supervisor === me?.username && current.state !== "ended";
  const done = mode === "off" ? "board.done_monitor_off" : joined ? "board.done_monitor_mode" : "board.done_monitor";
  act("POST", `/api/navigators/${encodeURIComponent(username)}/monitor`, { mode }, () => t(done, { user: username }));
  if (mode === "off") row?.querySelector(".mon-listen")?.focus();
}

async function act(method, path, body, done) {
  setStatus(() => t("board.sending"));
  try {
    await api(method, path, body);
    setStatus(done);
  } catch (err) {
    setStatus(() => errorWords(err));
  }
}

function setStatus(text) {
  statusText = text;
  $("action-status").textContent = text ? text() : "";
}

function forceNotReady(username, reason) {
  act("POST", `/api/navigators/${encodeURIComponent(username)}/state`, { state: "not_ready", reason }, () =>
    t("board.done_not_ready", { user: username, reason: label("reason", reason) }),
  );
}

function forceLogout(username) {
  if (!confirming.has(username)) {
    confirming.add(username);
    renderNavigators();
    return;
  }
  confirming.delete(username);
  renderNavigators();
  act("POST", `/api/navigators/${encodeURIComponent(username)}/state`, { state: "logged_out" }, () => t("board.done_logout", { user: username }));
}

function cancelLogout(username) {
  confirming.delete(username);
  renderNavigators();
  document.querySelector(`tr[data-navigator="${CSS.escape(username)}"] .force-logout`)?.focus();
}

function renderCallbacks() {
  const list = board.supervisor_list;
  $("callbacks-none").hidden = list.length > 0;
  $("callback-table").closest(".scroll").hidden = list.length === 0;
  const body = $("callback-table").tBodies[0];
  const rows = new Map([...body.rows].map((r) => [r.dataset.call, r]));
  const wanted = list.map((c) => {
    const row =
      rows.get(c.call_id) ??
      el(
        "tr",
        { "data-call": c.call_id },
        el("td", { class: "cb-caller" }),
        el("td", { class: "cb-queue" }),
        el("td", { class: "cb-lang" }),
        el("td", { class: "num cb-attempts" }),
        el(
          "td",
          {},
          el("button", { type: "button", class: "cb-requeue", onclick: () => callback(c.call_id, "requeue") }),
          el("button", { type: "button", class: "cb-resolve quiet", onclick: () => callback(c.call_id, "resolve") }),
        ),
      );
    row.querySelector(".cb-caller").textContent = callerText(c.caller);
    row.querySelector(".cb-queue").textContent = queueName(c.queue);
    row.querySelector(".cb-lang").textContent = langName(c.language);
    row.querySelector(".cb-attempts").textContent = String(c.attempts);
    row.querySelector(".cb-requeue").textContent = t("board.requeue");
    row.querySelector(".cb-resolve").textContent = t("board.resolve");
    return row;
  });
  const same = wanted.length === body.rows.length && wanted.every((r, i) => body.rows[i] === r);
  if (!same) body.replaceChildren(...wanted);
}

function callback(callId, action) {
  act("POST", `/api/queues/callbacks/${encodeURIComponent(callId)}`, { action }, () => t(`board.done_${action}`));
}

start();
