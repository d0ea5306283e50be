// ws.js — the CTI websocket. Connects with the session's token, reconnects by
// itself with back-off (0.5 s doubling to 5 s), resumes from the last seq it
// saw (kept in sessionStorage), sends commands with a unique id and settles
// each with its answer (ack, error, log_saved, …), resends or fails the
// commands a dropped connection left unanswered, and drops a connection that
// stays silent for three heartbeats.

const SEQ_KEY = "frontdoor.seq";
const STALE_MS = 15000; // after a reconnect, a command older than this is failed, not resent…
const ALWAYS_RESENT = new Set(["log_call"]); // …except a log, which the server stores once per id
const ANSWER_MS = 20000; // an answer that takes longer fails the command
const HELLO_MS = 10000; // no hello this long after opening: the session may have ended

/** A unique command id (randomUUID needs a secure context; getRandomValues does not). */
export function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A refused command: `code` is the server's (or timeout / not_sent / stopped). */
class CommandError extends Error {
  constructor({ code, reason = "", field = null }) {
    super(reason || code);
    this.code = code;
    this.reason = reason;
    this.field = field;
  }
}

export class Cti {
  #ws = null;
  #token = null;
  #stopped = true;
  #ready = false; // hello received on this connection
  #heardAny = false;
  #lastHeard = 0;
  #heartbeatMs = 20000;
  #attempt = 0;
  #helloSeq = 0;
  #highest = 0;
  #resuming = false;
  #retryTimer = null;
  #helloTimer = null;
  #watchTimer = null;
  #pending = new Map(); // id → {frame, resolve, reject, created, timer}

  /**
   * onFrame(frame, {replay, answered}) gets every frame; onStatus(status) gets
   * "connecting" | "connected" | "reconnecting" | "offline"; onResumed() runs
   * once the frames missed while away have been replayed (or could not be);
   * checkSession() resolves false when the session has ended.
   */
  constructor({ onFrame, onStatus, onResumed, checkSession }) {
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.onResumed = onResumed;
    this.checkSession = checkSession;
  }

  get ready() {
    return this.#ready;
  }

  get lastSeq() {
    return Number(sessionStorage.getItem(SEQ_KEY)) || 0;
  }

  set lastSeq(seq) {
    sessionStorage.setItem(SEQ_KEY, String(seq));
  }

  /** Forgets the last seq (another navigator's session, or a logout). */
  resetSeq() {
    sessionStorage.removeItem(SEQ_KEY);
  }

  start(token) {
    this.#token = token;
    this.#stopped = false;
    this.#attempt = 0;
    clearInterval(this.#watchTimer);
    this.#watchTimer = setInterval(() => this.#watch(), 2000);
    this.#open();
  }

  /** Closes for good. Unanswered commands are failed unless `keepPending` (the session ended: they go after the next login). */
  stop(keepPending = false) {
    this.#stopped = true;
    clearInterval(this.#watchTimer);
    clearTimeout(this.#retryTimer);
    this.#detach();
    this.#ready = false;
    this.onStatus("offline");
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      if (!keepPending || p.frame.type === "resume") this.#settle(id, null, { code: "stopped" });
    }
  }

  /** Sends a command; resolves with its answer frame, rejects with a CommandError. */
  send(type, fields = {}, id = newId()) {
    return new Promise((resolve, reject) => {
      const p = { frame: { id, type, ...fields }, resolve, reject, created: Date.now(), timer: null };
      this.#pending.set(id, p);
      if (this.#ready) this.#transmit(p);
    });
  }

  /** Reconnects now (e.g. the computer came back online). */
  nudge() {
    if (!this.#stopped && !this.#ws) {
      clearTimeout(this.#retryTimer);
      this.#open();
    }
  }

  #open() {
    this.#heardAny = false;
    this.#ready = false;
    this.#helloSeq = 0;
    this.onStatus(this.#attempt ? "reconnecting" : "connecting");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    let ws;
    try {
      ws = new WebSocket(`${scheme}://${location.host}/cti/ws?token=${encodeURIComponent(this.#token)}`);
    } catch {
      this.#closed();
      return;
    }
    this.#ws = ws;
    ws.onmessage = (ev) => this.#receive(ev.data);
    ws.onclose = (ev) => {
      if (this.#ws !== ws) return;
      // 4001: the server closed it because the login ended (expired,
      // password changed, account disabled): ask for the session at once.
      if (ev.code === 4001) this.#heardAny = false;
      this.#closed();
    };
    this.#helloTimer = setTimeout(() => {
      if (!this.#ready) this.#drop();
    }, HELLO_MS);
  }

  #detach() {
    clearTimeout(this.#helloTimer);
    const ws = this.#ws;
    this.#ws = null;
    if (ws) {
      ws.onmessage = ws.onclose = null;
      ws.close();
    }
  }

  /** Gives up on a connection that went silent, and reconnects. */
  #drop() {
    this.#detach();
    this.#closed();
  }

  async #closed() {
    this.#ws = null;
    this.#ready = false;
    clearTimeout(this.#helloTimer);
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      if (p.frame.type === "resume") this.#pending.delete(id);
    }
    if (this.#stopped) return;
    this.onStatus("reconnecting");
    // Refused or closed before a word: maybe the token expired (then the app stops us).
    if (!this.#heardAny && !(await this.checkSession())) return;
    if (this.#stopped) return;
    const delay = Math.min(5000, 500 * 2 ** this.#attempt) * (0.8 + Math.random() * 0.2);
    this.#attempt += 1;
    this.#retryTimer = setTimeout(() => this.#open(), delay);
  }

  #watch() {
    if (this.#ready && Date.now() - this.#lastHeard > 3 * this.#heartbeatMs) this.#drop();
  }

  #receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (!frame || typeof frame !== "object") return;
    this.#heardAny = true;
    this.#lastHeard = Date.now();
    if (frame.type === "hello") {
      this.#hello(frame);
      return;
    }
    const replay = this.#helloSeq > 0 && frame.seq < this.#helloSeq;
    if (Number.isFinite(frame.seq)) {
      this.#highest = Math.max(this.#highest, frame.seq);
      // While resuming, only replayed frames move the resume point forward.
      if ((!this.#resuming || replay) && frame.seq > this.lastSeq) this.lastSeq = frame.seq;
    }
    const answered = frame.re != null && this.#pending.has(frame.re);
    if (answered) this.#settle(frame.re, frame.type === "error" ? null : frame, frame.type === "error" ? frame : null);
    this.onFrame(frame, { replay, answered });
  }

  #hello(frame) {
    clearTimeout(this.#helloTimer);
    const from = this.lastSeq;
    this.#helloSeq = frame.seq;
    this.#highest = frame.seq;
    this.#heartbeatMs = (frame.heartbeat_s || 20) * 1000;
    this.#attempt = 0;
    this.#ready = true;
    this.#resuming = from > 0;
    if (!this.#resuming) this.lastSeq = frame.seq;
    this.onStatus("connected");
    this.onFrame(frame, { replay: false, answered: false });
    if (this.#resuming) {
      const finish = (gap) => {
        this.#resuming = false;
        this.lastSeq = gap ? this.#highest : Math.max(this.lastSeq, this.#highest);
        this.onResumed();
      };
      this.send("resume", { last_seq: from }).then(
        () => finish(false),
        (err) => err.code !== "stopped" && finish(err.code === "resume_gap"),
      );
    }
    const now = Date.now();
    for (const [id, p] of this.#pending) {
      if (p.frame.type === "resume") continue;
      if (!ALWAYS_RESENT.has(p.frame.type) && now - p.created > STALE_MS) this.#settle(id, null, { code: "not_sent" });
      else this.#transmit(p);
    }
  }

  #transmit(p) {
    if (!this.#ws || this.#ws.readyState !== WebSocket.OPEN) return;
    this.#ws.send(JSON.stringify(p.frame));
    clearTimeout(p.timer);
    p.timer = setTimeout(() => this.#settle(p.frame.id, null, { code: "timeout" }), ANSWER_MS);
  }

  #settle(id, answer, error) {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    clearTimeout(p.timer);
    if (error) p.reject(new CommandError(error));
    else p.resolve(answer);
  }
}
