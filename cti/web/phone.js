// phone.js — this browser as the navigator's phone (WebRTC). The engine
// answers the browser's offer over the CTI websocket (`phone_offer` →
// `phone_answer`) and terminates the connection itself (ICE-lite,
// DTLS-SRTP, PCMU). One connection, set up when the navigator turns the
// phone on and kept for every call: a call offered to the navigator rings
// here (with their SIP phones, if any), and `answer` takes it.
//
// The panel says plainly whether the phone works — the microphone, the
// connection, packets flowing — and a phone that cannot ring sets the
// navigator not ready (reason `phone_problem`): a phone that silently
// dies is the one thing a navigator must never discover by missing a call.
// The engine does the same when it loses the connection.

import { $, el } from "./dom.js";
import { t } from "./i18n.js";
import { errorText, deskMessage } from "./session.js";

const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];
/** Where the page keeps whether the navigator uses this browser as their phone. */
const PHONE_ON_KEY = "frontdoor.phone.on";
/** Where the page keeps whether the microphone's sound is cleaned up. */
const PROCESSING_KEY = "frontdoor.phone.processing";
/** A lost connection is made again after this long, at most this many times in a row. */
const RESTART_AFTER_MS = 2000;
const MAX_RESTARTS = 3;
/** The caller's audio is expected this soon after answering. */
const AUDIO_IN_MS = 3000;
/** Health is checked this often while the phone is on. */
const HEALTH_MS = 2000;

let cti = null;
let pc = null;
let mic = null;
/** "off" | "starting" | the connection's state | "no_microphone" | "unavailable" | "failed" | "silent" */
let status = "off";
let problem = "";
/** The call ringing here: its call_offered frame. */
let ringing = null;
/** The call answered here (its id), until it ends. */
let onCall = null;
let muted = false;
let health = null;
let lastSent = -1;
let meter = null;
let ringer = null;
/** Set not ready for a phone problem once per problem. */
let reported = false;
/** New connections made in a row without one working. */
let restarts = 0;

export function initPhone(client) {
  cti = client;
  $("phone-enable").addEventListener("click", () => {
    localStorage.setItem(PHONE_ON_KEY, "on");
    enable();
  });
  $("phone-off").addEventListener("click", () => {
    localStorage.setItem(PHONE_ON_KEY, "off");
    turnOff();
  });
  $("phone-answer").addEventListener("click", () => answer());
  $("phone-mute").addEventListener("click", () => setMuted(!muted));
  $("phone-mic").addEventListener("change", () => enable($("phone-mic").value));
  $("phone-out").addEventListener("change", () => chooseSpeaker($("phone-out").value));
  const processing = $("phone-processing");
  processing.checked = localStorage.getItem(PROCESSING_KEY) !== "off";
  processing.addEventListener("change", () => {
    localStorage.setItem(PROCESSING_KEY, processing.checked ? "on" : "off");
    if (pc) enable($("phone-mic").value);
  });
  const pad = $("phone-keypad");
  for (const key of KEYS) {
    pad.append(el("button", { type: "button", class: "small key", "data-key": key, text: key, onclick: () => sendKey(key) }));
  }
  navigator.mediaDevices?.addEventListener?.("devicechange", () => listDevices());
  // The network changed (another Wi-Fi, a VPN, back online): a new
  // connection at once rather than waiting for the old one to time out.
  window.addEventListener("online", () => {
    restarts = 0;
    restart();
  });
  navigator.connection?.addEventListener?.("change", () => {
    restarts = 0;
    restart();
  });
  render();
}

/**
 * Signed in (a login, or the page opened again): the phone the navigator
 * used last time on this browser is set up at once, ready for the first call.
 */
export function phoneSignedIn() {
  if (localStorage.getItem(PHONE_ON_KEY) === "on" && !pc && (status === "off" || status === "closed")) enable();
}

/** Signed out: the engine has ended the phone; the page lets go of it. */
export function phoneSignedOut() {
  const conn = pc;
  pc = null;
  status = "off";
  problem = "";
  onCall = null;
  ringing = null;
  stopHealth();
  stopMeter();
  stopRinger();
  conn?.close();
  mic?.getTracks().forEach((track) => track.stop());
  mic = null;
  render();
}

/** True while the browser phone can ring. */
export function phoneWorks() {
  return status === "connected";
}

/** A frame from the server about the phone (`phone_state`). */
export function phoneFrame(frame) {
  if (frame.type !== "phone_state") return;
  // The browser's own view wins while it has one; the server's says when
  // the engine lost the browser.
  if (frame.state === "failed" || frame.state === "closed" || frame.state === "disconnected" || !pc) status = frame.state;
  render();
}

/** A call is offered to the navigator: it rings here too while the phone works. */
export function phoneOffered(offer) {
  if (!phoneWorks() || onCall) return;
  ringing = offer;
  startRinger();
  render();
  $("phone-answer").focus();
  // The bench's mark once the ring is on screen (as pop.js's pop-painted).
  const callId = offer.call_id;
  requestAnimationFrame(() => setTimeout(() => performance.mark(`phone-ringing:${callId}`), 0));
}

/** A call event (call_answered, call_ended, call_withdrawn): ringing stops. */
export function phoneCallEvent(frame) {
  // Answered (here or on another phone), withdrawn or ended: no more ringing.
  if (ringing && frame.call_id === ringing.call_id && frame.type !== "transfer_progress" && frame.type !== "call_held") {
    ringing = null;
    stopRinger();
  }
  if (frame.type === "call_ended" && frame.call_id === onCall) {
    onCall = null;
    // The next call's keys are its own.
    const sent = $("phone-keys-sent");
    delete sent.dataset.keys;
    sent.textContent = "";
  }
  render();
}

/** Alt+Shift+A: answer the call ringing here. */
export function phoneAnswerKey() {
  answer();
}

/** Alt+Shift+M: mute or unmute the microphone. */
export function phoneMuteKey() {
  if (status === "off") deskMessage(t("phone.state.off"));
  else setMuted(!muted);
}

export function relabelPhone() {
  render();
}

async function answer() {
  if (!ringing) {
    deskMessage(t("phone.nothing_ringing"));
    return;
  }
  const callId = ringing.call_id;
  performance.mark(`phone-answer:${callId}`);
  try {
    await cti.send("answer", { call_id: callId });
    onCall = callId;
    ringing = null;
    stopRinger();
    watchAudioIn(pc, callId);
  } catch (err) {
    deskMessage(errorText(err));
  }
  render();
}

async function enable(deviceId) {
  if (pc) pc.close();
  stopHealth();
  status = "starting";
  problem = "";
  reported = false;
  render();
  // A headset that cleans up its own sound wants the browser's off.
  const clean = $("phone-processing").checked;
  const audio = { echoCancellation: clean, noiseSuppression: clean, autoGainControl: clean };
  if (deviceId) audio.deviceId = { exact: deviceId };
  try {
    mic?.getTracks().forEach((track) => track.stop());
    mic = await navigator.mediaDevices.getUserMedia({ audio });
  } catch (err) {
    pc = null;
    status = "no_microphone";
    problem = err?.message ?? "";
    render();
    phoneProblem();
    return;
  }
  for (const track of mic.getAudioTracks()) {
    track.enabled = !muted;
    // A headset unplugged, or the permission taken back.
    track.addEventListener("ended", () => {
      if (mic?.getAudioTracks()[0] !== track) return;
      status = "no_microphone";
      render();
      phoneProblem();
    });
  }
  startMeter();
  listDevices();
  await connect();
}

/**
 * A new peer connection for the microphone already open, offered to the
 * engine, which replaces the old one (an ICE restart): after a network
 * change, or when the connection failed. A call on this browser carries on.
 */
async function connect() {
  if (pc) pc.close();
  pc = new RTCPeerConnection();
  const conn = pc;
  for (const track of mic.getTracks()) conn.addTrack(track, mic);
  conn.addEventListener("track", (ev) => {
    const speaker = $("phone-speaker");
    speaker.srcObject = new MediaStream([ev.track]);
    speaker.play().catch(() => {});
  });
  conn.addEventListener("connectionstatechange", () => {
    if (conn !== pc) return;
    status = conn.connectionState;
    if (status === "connected") {
      reported = false;
      restarts = 0;
    }
    render();
    if (status === "failed") phoneProblem();
    // Lost: try a new connection (a network change, a sleeping laptop).
    if (status === "disconnected" || status === "failed") setTimeout(() => conn === pc && conn.connectionState !== "connected" && restart(), RESTART_AFTER_MS);
  });
  try {
    await conn.setLocalDescription(await conn.createOffer());
    // The whole offer at once: the engine takes no trickled candidates.
    await new Promise((done) => {
      if (conn.iceGatheringState === "complete") done();
      conn.addEventListener("icegatheringstatechange", () => conn.iceGatheringState === "complete" && done());
      setTimeout(done, 3000);
    });
    const answer = await cti.send("phone_offer", { sdp: conn.localDescription.sdp });
    await conn.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    if (conn === pc) status = conn.connectionState;
  } catch (err) {
    status = err?.code === "phone_unavailable" ? "unavailable" : "failed";
    problem = err?.code ? errorText(err) : (err?.message ?? "");
  }
  startHealth(conn);
  render();
}

/** A new connection, unless the phone is off or has been retried too often. */
function restart() {
  if (!pc || !mic || status === "off" || restarts >= MAX_RESTARTS) return;
  restarts += 1;
  status = "starting";
  render();
  connect();
}

/**
 * After answering: the caller's audio must be heard. The first of it
 * played out is marked (`phone-audio-in`, for the bench: the receiver's
 * synchronization sources say when a frame last reached the track, with
 * no stats cache between); none within AUDIO_IN_MS is said on the desk,
 * as the navigator would otherwise only hear silence.
 */
async function watchAudioIn(conn, callId) {
  const receiver = conn.getReceivers().find((r) => r.track?.kind === "audio");
  if (!receiver) return;
  const last = () => Math.max(0, ...receiver.getSynchronizationSources().map((source) => source.timestamp));
  const before = last();
  const end = performance.now() + AUDIO_IN_MS;
  while (performance.now() < end) {
    if (conn !== pc || onCall !== callId) return;
    if (last() > before) {
      performance.mark(`phone-audio-in:${callId}`);
      return;
    }
    await new Promise((wake) => setTimeout(wake, 5));
  }
  if (conn === pc && onCall === callId) deskMessage(t("phone.no_audio_in"));
}

/** The navigator turns the phone off: the engine stops ringing it; calls ring their SIP phone. */
async function turnOff() {
  try {
    await cti.send("phone_off", {});
  } catch (err) {
    deskMessage(errorText(err));
  }
  phoneSignedOut();
}

/**
 * The phone cannot ring (no microphone, the connection lost, nothing sent):
 * the navigator is set not ready, so calls go to others, and told why.
 */
function phoneProblem() {
  if (reported) return;
  reported = true;
  deskMessage(t("phone.problem_not_ready"));
  cti.send("set_state", { state: "not_ready", reason: "phone_problem" }).catch(() => {});
}

/** Every HEALTH_MS: audio must leave the browser while the connection is up. */
function startHealth(conn) {
  stopHealth();
  lastSent = -1;
  health = setInterval(async () => {
    if (conn !== pc || conn.connectionState !== "connected") return;
    let sent = 0;
    let received = 0;
    const stats = await conn.getStats();
    stats.forEach((s) => {
      if (s.type === "outbound-rtp" && s.kind === "audio") sent += s.packetsSent ?? 0;
      if (s.type === "inbound-rtp" && s.kind === "audio") received += s.packetsReceived ?? 0;
    });
    $("phone-packets").textContent = t("phone.packets", { sent, received });
    if (sent <= lastSent) {
      status = "silent";
      render();
      phoneProblem();
    } else if (status === "silent") {
      status = "connected";
      render();
    }
    lastSent = sent;
  }, HEALTH_MS);
}

function stopHealth() {
  if (health) clearInterval(health);
  health = null;
}

function setMuted(on) {
  muted = on;
  mic?.getAudioTracks().forEach((track) => (track.enabled = !on));
  render();
}

function sendKey(key) {
  const sender = pc?.getSenders().find((s) => s.track?.kind === "audio");
  if (!sender?.dtmf || !onCall) {
    deskMessage(t("phone.keypad_no_call"));
    return;
  }
  sender.dtmf.insertDTMF(key, 120, 70);
  const sent = $("phone-keys-sent");
  sent.dataset.keys = (sent.dataset.keys ?? "") + key;
  sent.textContent = t("phone.keys_sent", { keys: sent.dataset.keys });
}

async function listDevices() {
  if (!navigator.mediaDevices?.enumerateDevices) return;
  const devices = await navigator.mediaDevices.enumerateDevices();
  const fill = (select, kind) => {
    const current = select.value;
    const options = devices.filter((d) => d.kind === kind);
    select.replaceChildren(...options.map((d, i) => el("option", { value: d.deviceId, text: d.label || t("phone.device_n", { n: i + 1 }) })));
    if (options.some((d) => d.deviceId === current)) select.value = current;
  };
  fill($("phone-mic"), "audioinput");
  const usedMic = mic?.getAudioTracks()[0]?.getSettings().deviceId;
  if (usedMic) $("phone-mic").value = usedMic;
  fill($("phone-out"), "audiooutput");
  // Speaker choice needs setSinkId (Chromium has it).
  $("phone-out").disabled = typeof $("phone-speaker").setSinkId !== "function";
}

async function chooseSpeaker(deviceId) {
  const speaker = $("phone-speaker");
  if (typeof speaker.setSinkId !== "function") return;
  try {
    await speaker.setSinkId(deviceId);
  } catch (err) {
    deskMessage(err?.message ?? String(err));
  }
}

/** The microphone's level, for the meter: people check their headset with it. */
function startMeter() {
  stopMeter();
  try {
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 512;
    ctx.createMediaStreamSource(mic).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const timer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const x of samples) sum += x * x;
      const rms = Math.sqrt(sum / samples.length);
      $("phone-level").value = muted ? 0 : Math.min(1, rms * 4);
    }, 100);
    meter = { ctx, timer };
  } catch {
    meter = null;
  }
}

/** Stops a meter's or a ringer's timer and closes its audio. */
function closeAudio(running) {
  clearInterval(running.timer);
  running.ctx.close().catch(() => {});
}

function stopMeter() {
  if (!meter) return;
  closeAudio(meter);
  meter = null;
  $("phone-level").value = 0;
}

/** A ring the navigator hears on the speaker: 440 + 480 Hz, 2 s on, 4 s off. */
function startRinger() {
  stopRinger();
  try {
    const ctx = new AudioContext();
    const gain = ctx.createGain();
    gain.gain.value = 0;
    gain.connect(ctx.destination);
    for (const hz of [440, 480]) {
      const osc = ctx.createOscillator();
      osc.frequency.value = hz;
      osc.connect(gain);
      osc.start();
    }
    const cycle = () => {
      const now = ctx.currentTime;
      gain.gain.setValueAtTime(0.1, now);
      gain.gain.setValueAtTime(0, now + 2);
    };
    cycle();
    ringer = { ctx, timer: setInterval(cycle, 6000) };
  } catch {
    ringer = null;
  }
}

function stopRinger() {
  if (!ringer) return;
  closeAudio(ringer);
  ringer = null;
}

function render() {
  const node = $("phone-status");
  if (!node) return;
  node.dataset.state = status;
  node.textContent = t(`phone.state.${status}`) + (problem ? ` ${problem}` : "");
  const working = status === "connected" || status === "connecting" || status === "starting" || status === "new";
  const button = $("phone-enable");
  button.textContent = t(status === "off" ? "phone.enable" : "phone.reconnect");
  button.hidden = working;
  // Turning it off during a call on it would end the call.
  $("phone-off").hidden = status === "off" || status === "unavailable" || !!onCall;
  $("phone-controls").hidden = status === "off" || status === "unavailable";
  const ring = $("phone-ring");
  ring.hidden = !ringing;
  $("phone-ring-text").textContent = ringing ? t(ringing.callback ? "phone.ringing_callback" : "phone.ringing") : "";
  const mute = $("phone-mute");
  mute.setAttribute("aria-pressed", String(muted));
  mute.textContent = t(muted ? "phone.unmute" : "phone.mute");
  $("phone-on-call").textContent = onCall ? t("phone.on_call") : "";
}

/** For tests and the health checks: the phone as the page sees it. */
window.frontdoorPhone = {
  get status() {
    return status;
  },
  get pc() {
    return pc;
  },
  get ringing() {
    return ringing?.call_id ?? null;
  },
};
