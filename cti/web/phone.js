// phone.js — this browser as the navigator's phone (WebRTC). The engine
// answers the browser's offer over the CTI websocket (`phone_offer` →
// `phone_answer`) and terminates the connection itself (ICE-lite,
// DTLS-SRTP, PCMU). One connection, set up when the navigator turns the
// phone on and kept for every call. The panel says plainly whether the
// phone works: a phone that silently dies is the one thing a navigator
// must never have to discover by missing a call.

import { $ } from "./dom.js";
import { t } from "./i18n.js";
import { errorText } from "./session.js";

let cti = null;
let pc = null;
let mic = null;
/** "off" | "starting" | the connection's state | "no_microphone" | "unavailable" | "failed" */
let status = "off";
let problem = "";

export function initPhone(client) {
  cti = client;
  $("phone-enable").addEventListener("click", () => enable());
  render();
}

/** A frame from the server about the phone (`phone_state`). */
export function phoneFrame(frame) {
  if (frame.type !== "phone_state") return;
  // The browser's own view wins while it has one; the server's says when
  // the engine lost the browser.
  if (frame.state === "failed" || frame.state === "closed" || !pc) status = frame.state;
  render();
}

export function relabelPhone() {
  render();
}

async function enable() {
  if (pc) pc.close();
  status = "starting";
  problem = "";
  render();
  try {
    mic = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true } });
  } catch (err) {
    status = "no_microphone";
    problem = err?.message ?? "";
    render();
    return;
  }
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
    render();
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
  render();
}

function render() {
  const node = $("phone-status");
  if (!node) return;
  node.dataset.state = status;
  node.textContent = t(`phone.state.${status}`) + (problem ? ` ${problem}` : "");
  const working = status === "connected" || status === "connecting" || status === "starting";
  const button = $("phone-enable");
  button.textContent = t(status === "off" ? "phone.enable" : "phone.reconnect");
  button.hidden = working;
}

/** For tests and the health checks: the phone as the page sees it. */
window.frontdoorPhone = {
  get status() {
    return status;
  },
  get pc() {
    return pc;
  },
};
