// session.js — what the server told this page about the navigator and their
// desk (from hello), the server clock's offset, and how the desk's ids and
// callers are shown (centres, regions, IVR paths, masked numbers).

import { t, label, known, fmtDateTime } from "./i18n.js";

export const session = {
  account: null, // {username, role, centre, languages, crisis_trained}
  desk: { centres: [], regions: [], destinations: [] },
  notReadyReasons: [],
  skewMs: 0, // server clock minus this computer's clock
};

/** The server's clock now, epoch ms. */
export const serverNow = () => Date.now() + session.skewMs;

export function centreName(id) {
  if (!id) return t("common.unknown_centre");
  // The catalogue's name in the page's language; else the flows' name.
  if (known("centre", id)) return label("centre", id);
  return session.desk.centres.find((c) => c.id === id)?.name ?? id;
}

export const regionName = (id) => (id ? label("region", id) : t("common.unknown_region"));

/** One IVR node in words: `path.NAME`, `path.A_B` for "A:B", else the name with spaces. */
export function pathStep(name) {
  const joined = String(name).replace(":", "_");
  return known("path", name) ? label("path", name) : label("path", joined, true);
}

/** A caller's number masked (+1 613 ••• ••23), revealed, or "Number withheld". */
export function callerText(caller, revealed = false) {
  if (!caller || caller === "anonymous") return t("caller.withheld");
  const digits = caller.replace(/\D/g, "");
  const nanp = caller.startsWith("+1") && digits.length === 11;
  if (revealed) return nanp ? `+1 ${digits.slice(1, 4)} ${digits.slice(4, 7)} ${digits.slice(7)}` : caller;
  if (nanp) return `+1 ${digits.slice(1, 4)} ••• ••${digits.slice(-2)}`;
  return `${"•".repeat(Math.max(0, digits.length - 2))}${digits.slice(-2)}`;
}

/** A one-line summary of a call (for unfinished logs and the log's heading). */
export function callSummary(call) {
  if (!call) return "";
  // A crisis call's number is shown, as in its pop.
  const parts = [callerText(call.caller, Boolean(call.crisis))];
  if (call.arrived_ms) parts.push(fmtDateTime(call.arrived_ms));
  if (call.topic) parts.push(label("topic", call.topic));
  if (call.region) parts.push(regionName(call.region));
  if (call.crisis) parts.push(t("common.crisis"));
  return parts.join(" · ");
}

/** Words for a refused command or a failed request. */
export function errorText(err) {
  if (err?.status === 0) return t("error.network");
  const code = err?.code;
  if (code && known("error", code)) return label("error", code);
  return err?.reason || err?.message ? t("error.with_reason", { reason: err.reason || err.message }) : t("error.generic");
}

/** Shows a problem in the desk's alert line; an empty text clears it. */
export function deskMessage(text) {
  document.getElementById("desk-message").textContent = text;
}
