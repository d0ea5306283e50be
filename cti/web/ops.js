// ops.js — the operations console (/ops): emergency mode with its incident
// tag, the flows (edit or upload a file, check it with the flow tests, each
// problem shown with its line, activate), and every flow version with a
// one-press roll back (a second press confirms). Edits are kept in this
// browser until they are activated or discarded, so a reload or a new
// login loses nothing.

import { $, el } from "./dom.js";
import { t, label, setLang, getLang, otherLang, onLangChange, fmtDateTime } from "./i18n.js";
import { api, apiBlob, getToken, setToken, onSessionExpired } from "./api.js";
import { initLogin, relabelLogin } from "./login.js";
import { errorText as errorWords } from "./session.js";

const LANG_KEY = "frontdoor.lang";
const DRAFT_KEY = "frontdoor.ops.draft";
const INCIDENT = /^[A-Za-z0-9_-]{1,64}$/;

let view = null;
let me = null;
let active = null; // {version, files}
let files = []; // the working copy: [{path, content}]
let current = 0; // index in files
let checked = null; // {json of files, check} of the last check
let versions = [];
let emergency = null;
let regions = []; // the flows' region ids
let prompts = []; // GET /api/prompts
let centres = []; // the flows' centres: [{id, name}]
let accounts = []; // GET /api/accounts
let confirming = null; // the version whose roll back waits for a second press
let busy = false;
const texts = {}; // id → () => text, shown again when the language changes

function start() {
  const stored = localStorage.getItem(LANG_KEY);
  setLang(stored ?? (navigator.language?.toLowerCase().startsWith("fr") ? "fr" : "en"));
  onSessionExpired(sessionExpired);
  onLangChange(relabel);
  relabel();
  $("lang-toggle").addEventListener("click", toggleLanguage);
  initLogin({ signedIn, words: errorWords });
  $("logout").addEventListener("click", logout);
  $("flow-file").addEventListener("change", () => choose(Number($("flow-file").value)));
  $("flow-text").addEventListener("input", edited);
  for (const ev of ["keyup", "click", "focus"]) $("flow-text").addEventListener(ev, showLine);
  $("flow-upload").addEventListener("change", upload);
  $("flow-check").addEventListener("click", check);
  $("flow-activate").addEventListener("click", activate);
  $("flow-discard").addEventListener("click", discard);
  $("audit-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    showAudit();
  });
  $("audit-csv").addEventListener("click", downloadAudit);
  $("prompt-filter").addEventListener("input", renderPrompts);
  $("account-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    addAccount();
  });
  $("edit-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    saveSkills();
  });
  $("edit-username").addEventListener("change", fillEdit);
  $("edit-reset").addEventListener("click", resetPassword);
  $("record-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    uploadRecording();
  });
  $("emergency-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    toggleEmergency();
  });

  Object.defineProperty(window, "frontdoorOps", {
    value: Object.freeze({
      /** Loaded, with nothing being sent. */
      get ready() {
        return view === "ops" && active !== null && !busy;
      },
      get lastCheck() {
        return checked && structuredClone(checked.check);
      },
      get activeVersion() {
        return active?.version ?? null;
      },
    }),
  });

  if (getToken()) enter();
  else showView("login");
}

function showView(name) {
  view = name;
  $("page-loading").hidden = true;
  for (const v of ["login", "denied", "ops"]) $(`${v}-view`).hidden = v !== name;
  const inside = name !== "login";
  $("me").hidden = $("logout").hidden = !inside;
  $("board-link").hidden = $("reports-link").hidden = name !== "ops";
  renderMe();
  if (name === "login") {
    if (me?.username) $("username").value = me.username;
    ($("username").value ? $("password") : $("username")).focus();
  } else {
    $(`${name}-title`).focus();
  }
}

async function signedIn() {
  $("login-expired").hidden = true;
  await enter();
}

async function enter() {
  try {
    me = await api("GET", "/api/me");
  } catch (err) {
    if (err.status !== 401) {
      showView("login");
      $("login-error").textContent = errorWords(err);
    }
    return;
  }
  if (me.ui_language && me.ui_language !== getLang()) {
    setLang(me.ui_language);
    localStorage.setItem(LANG_KEY, me.ui_language);
  }
  if (me.role !== "ops") {
    showView("denied");
    return;
  }
  showView("ops");
  await load();
}

/** The active flows, the versions and emergency mode, from the server. */
async function load() {
  busy = true;
  try {
    const [a, v, e, meta] = await Promise.all([
      api("GET", "/api/flows/active"),
      api("GET", "/api/flows/versions"),
      api("GET", "/api/emergency"),
      api("GET", "/api/reports"),
    ]);
    prompts = (await api("GET", "/api/prompts")).prompts;
    regions = meta.regions;
    centres = meta.centres;
    accounts = (await api("GET", "/api/accounts")).accounts;
    active = a;
    versions = v.versions;
    emergency = e;
    const draft = readDraft();
    files = draft ? draft.files : structuredClone(a.files);
    $("draft-note").hidden = !draft;
    current = Math.max(0, files.findIndex((f) => f.path === "211.yaml"));
    setText("ops-error", null);
    await loadDiagram();
  } catch (err) {
    if (err.status !== 401) setText("ops-error", () => errorWords(err));
  } finally {
    busy = false;
  }
  render();
}

function sessionExpired() {
  if (view === "login") return;
  setToken(null);
  $("login-expired").hidden = false;
  showView("login");
}

async function logout() {
  try {
    await api("POST", "/api/logout");
  } catch {
    // the token goes from this tab either way
  }
  setToken(null);
  me = null;
  showView("login");
}

async function toggleLanguage() {
  const next = otherLang();
  setLang(next);
  localStorage.setItem(LANG_KEY, next);
  if (me && getToken()) api("PUT", "/api/me/language", { language: next }).catch(() => {});
}

function relabel() {
  document.title = t("ops.page_title");
  $("lang-toggle").textContent = t("lang.other");
  $("lang-toggle").setAttribute("lang", otherLang());
  relabelLogin();
  renderMe();
  for (const [id, text] of Object.entries(texts)) $(id).textContent = text ? text() : "";
  if (view === "ops") render();
}

function renderMe() {
  if (me) $("me").textContent = t("board.me", { user: me.username, role: t(`board.role.${me.role}`) });
}

/** Shows a text that follows the page's language (null clears it). */
function setText(id, text) {
  texts[id] = text;
  $(id).textContent = text ? text() : "";
}

// ——— Drafts ———

function readDraft() {
  try {
    const d = JSON.parse(localStorage.getItem(DRAFT_KEY) ?? "null");
    return d && Array.isArray(d.files) ? d : null;
  } catch {
    return null;
  }
}

function saveDraft() {
  const same = JSON.stringify(files) === JSON.stringify(active?.files ?? []);
  if (same) localStorage.removeItem(DRAFT_KEY);
  else localStorage.setItem(DRAFT_KEY, JSON.stringify({ base: active?.version, files }));
}

// ——— Rendering ———

function render() {
  if (!active) return;
  $("flow-active").textContent = t("ops.active_version", { version: active.version });
  const select = $("flow-file");
  select.replaceChildren(...files.map((f, i) => el("option", { value: i, text: f.path })));
  select.value = String(current);
  const text = $("flow-text");
  if (text.value !== files[current]?.content) text.value = files[current]?.content ?? "";
  showLine();
  $("flow-activate").disabled = !checkedOk();
  renderCheck();
  renderVersions();
  renderEmergency();
  renderPrompts();
  renderAccounts();
}

function checkedOk() {
  return checked !== null && checked.check.ok && checked.files === JSON.stringify(files);
}

function choose(i) {
  current = i;
  $("flow-text").value = files[i].content;
  showLine();
}

function edited() {
  files[current].content = $("flow-text").value;
  saveDraft();
  $("draft-note").hidden = true;
  $("flow-activate").disabled = !checkedOk();
}

function showLine() {
  const text = $("flow-text");
  const line = text.value.slice(0, text.selectionStart).split("\n").length;
  $("flow-line").textContent = t("ops.at_line", { file: files[current]?.path ?? "", line });
}

/** Puts the caret at the start of `line` of `path`, in view. */
function goToLine(path, line) {
  const i = files.findIndex((f) => f.path === path);
  if (i < 0) return;
  $("flow-file").value = String(i);
  choose(i);
  const text = $("flow-text");
  const lines = text.value.split("\n");
  const at = lines.slice(0, Math.max(0, line - 1)).reduce((n, l) => n + l.length + 1, 0);
  text.focus();
  text.setSelectionRange(at, at + (lines[line - 1]?.length ?? 0));
  const lineHeight = parseFloat(getComputedStyle(text).lineHeight) || 20;
  text.scrollTop = Math.max(0, (line - 3) * lineHeight);
  showLine();
}

async function upload() {
  const file = $("flow-upload").files?.[0];
  if (!file) return;
  const content = await file.text();
  let i = files.findIndex((f) => f.path === file.name);
  if (i < 0) i = current;
  files[i].content = content;
  current = i;
  $("flow-upload").value = "";
  saveDraft();
  render();
  setText("flow-status", () => t("ops.uploaded", { file: files[i].path }));
}

function discard() {
  localStorage.removeItem(DRAFT_KEY);
  files = structuredClone(active.files);
  checked = null;
  $("draft-note").hidden = true;
  render();
  setText("flow-status", () => t("ops.discarded"));
}

// ——— Check and activate ———

async function check() {
  busy = true;
  setText("flow-status", () => t("ops.checking"));
  const sent = JSON.stringify(files);
  try {
    const result = await api("POST", "/api/flows/check", { files });
    checked = { files: sent, check: result };
    setText("flow-status", () => (result.ok ? t("ops.check_ok") : t("ops.check_bad")));
  } catch (err) {
    setText("flow-status", () => errorWords(err));
  } finally {
    busy = false;
  }
  render();
  if (checked) {
    $("check-title").focus();
    $("check-result").scrollIntoView({ block: "start" });
  }
}

function renderCheck() {
  const box = $("check-result");
  box.hidden = !checked;
  if (!checked) return;
  const c = checked.check;
  $("check-title").textContent = c.problems.length ? t("ops.problems", { n: c.problems.length }) : t("ops.no_problem", { version: c.version ?? "" });
  $("problems").replaceChildren(
    ...c.problems.map((p) => {
      const lineText = files.find((f) => f.path === p.file)?.content.split("\n")[p.line - 1];
      return el(
        "li",
        { class: "problem", "data-file": p.file, "data-line": p.line },
        el("button", { type: "button", class: "quiet small", onclick: () => goToLine(p.file, p.line), text: t("ops.go_to", { file: p.file, line: p.line, col: p.col }) }),
        lineText !== undefined ? el("pre", { class: "problem-line" }, el("code", { text: `${p.line} | ${lineText}` })) : null,
        el("p", { class: "problem-message", text: p.message }),
      );
    }),
  );
  const tests = c.tests;
  $("tests-summary").textContent = tests ? t("ops.tests_summary", { passed: tests.passed, failed: tests.failed }) : t("ops.tests_not_run");
  $("tests").replaceChildren(...(tests?.lines ?? []).filter((l) => l.startsWith("FAIL")).map((l) => el("li", { class: "test-fail", text: l })));
}

async function activate() {
  if (!checkedOk()) return;
  busy = true;
  $("flow-activate").disabled = true;
  setText("flow-status", () => t("ops.activating"));
  try {
    const { version } = await api("POST", "/api/flows/activate", { files });
    localStorage.removeItem(DRAFT_KEY);
    checked = null;
    await load();
    setText("flow-status", () => t("ops.activated", { version }));
  } catch (err) {
    setText("flow-status", () => errorWords(err));
  } finally {
    busy = false;
  }
  render();
}

// ——— The diagram ———

/** The active version's diagram (SVG drawn by the server): each node a button to its line. */
async function loadDiagram() {
  const text = await (await apiBlob("/api/flows/diagram.svg", "image/svg+xml")).text();
  const parsed = new DOMParser().parseFromString(text, "image/svg+xml").documentElement;
  if (parsed.nodeName !== "svg") return;
  // Imported first: a copy keeps no listener.
  const svg = document.importNode(parsed, true);
  svg.setAttribute("role", "group");
  svg.removeAttribute("aria-labelledby");
  svg.setAttribute("aria-label", t("ops.diagram_label", { version: active.version }));
  for (const node of svg.querySelectorAll("g.node")) {
    const { file, line } = node.dataset;
    node.setAttribute("tabindex", "0");
    node.setAttribute("role", "button");
    // Its name is its text, as shown; where it is defined is said after.
    node.querySelector("title")?.remove();
    node.setAttribute("aria-description", t("ops.diagram_node", { file, line }));
    const go = () => {
      goToLine(file, Number(line));
      $("flow-text").scrollIntoView({ block: "center" });
    };
    node.addEventListener("click", go);
    node.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        go();
      }
    });
  }
  $("diagram").replaceChildren(svg);
}

// ——— Versions ———

function renderVersions() {
  const body = $("version-table").tBodies[0];
  body.replaceChildren(
    ...versions.slice(0, 50).map((v, i) => {
      const isActive = i === 0 && v.version === active.version;
      const confirm = confirming === v.version;
      return el(
        "tr",
        { "data-version": v.version, class: isActive ? "active-version" : null },
        el("th", { scope: "row" }, el("code", { text: v.version }), isActive ? ` (${t("ops.active")})` : null),
        el("td", { text: fmtDateTime(v.activated_ms) }),
        el("td", { text: v.activated_by }),
        el(
          "td",
          {},
          v.version === active.version
            ? null
            : el("button", {
                type: "button",
                class: confirm ? "danger rollback" : "rollback",
                text: confirm ? t("ops.confirm_rollback") : t("ops.rollback"),
                "aria-label": t(confirm ? "ops.confirm_rollback_to" : "ops.rollback_to", { version: v.version, when: fmtDateTime(v.activated_ms) }),
                onclick: () => rollback(v.version),
              }),
        ),
      );
    }),
  );
}

async function rollback(version) {
  if (confirming !== version) {
    confirming = version;
    renderVersions();
    document.querySelector(`tr[data-version="${CSS.escape(version)}"] .rollback`)?.focus();
    return;
  }
  confirming = null;
  busy = true;
  setText("flow-status", () => t("ops.activating"));
  try {
    const result = await api("POST", "/api/flows/rollback", { version });
    localStorage.removeItem(DRAFT_KEY);
    checked = null;
    await load();
    setText("flow-status", () => t("ops.rolled_back", { version: result.version }));
  } catch (err) {
    setText("flow-status", () => errorWords(err));
  } finally {
    busy = false;
  }
  render();
}

// ——— Prompts ———

function renderPrompts() {
  const select = $("record-id");
  if (select.options.length !== prompts.length) {
    const chosen = select.value;
    select.replaceChildren(...prompts.map((p) => el("option", { value: p.id, text: p.id })));
    if (chosen) select.value = chosen;
  }
  const words = $("prompt-filter").value.trim().toLowerCase();
  const shown = prompts.filter((p) => !words || `${p.id} ${p.en} ${p.fr}`.toLowerCase().includes(words));
  const cell = (p, lang) =>
    el(
      "td",
      { lang },
      el("p", { class: "prompt-text", text: p[lang] }),
      el(
        "p",
        { class: "prompt-meta" },
        el("button", {
          type: "button",
          class: "small",
          "data-play": `${lang}/${p.id}`,
          text: t("ops.play"),
          "aria-label": t("ops.play_prompt", { id: p.id, lang: label("board.lang", lang) }),
          onclick: () => play(lang, p.id),
        }),
        " ",
        el("span", { class: "prompt-kind", text: p[`recorded_${lang}`] ? t("ops.recorded") : t("ops.synthetic") }),
      ),
    );
  $("prompt-table").tBodies[0].replaceChildren(
    ...shown.map((p) =>
      el(
        "tr",
        { "data-prompt": p.id },
        el("th", { scope: "row" }, el("code", { text: p.id }), p.used ? null : el("span", { class: "prompt-unused", text: ` (${t("ops.unused")})` })),
        cell(p, "en"),
        cell(p, "fr"),
      ),
    ),
  );
}

/** Sends a person's recording of a prompt: checked by the server, then live as a new version. */
async function uploadRecording() {
  const id = $("record-id").value;
  const lang = $("record-lang").value;
  const file = $("record-file").files?.[0];
  if (!file) {
    setText("prompt-status", () => t("ops.record_choose"));
    $("record-file").focus();
    return;
  }
  busy = true;
  setText("prompt-status", () => t("ops.record_sending"));
  try {
    const res = await fetch(`/api/prompts/${lang}/${encodeURIComponent(id)}`, {
      method: "PUT",
      headers: { Authorization: `Bearer ${getToken()}`, "Content-Type": "audio/wav", Accept: "application/json" },
      body: file,
      cache: "no-store",
    });
    const answer = await res.json().catch(() => ({}));
    if (res.status === 401) {
      sessionExpired();
      return;
    }
    if (!res.ok) {
      const why = answer.error ?? `HTTP ${res.status}`;
      setText("prompt-status", () => t("ops.record_refused", { why }));
      return;
    }
    $("record-file").value = "";
    await load();
    setText("prompt-status", () => t("ops.record_done", { id, lang: label("board.lang", lang), version: answer.version }));
  } catch {
    setText("prompt-status", () => t("error.network"));
  } finally {
    busy = false;
  }
}

/** Plays a prompt's sound here, fetched with the token. */
async function play(lang, id) {
  const audio = $("prompt-audio");
  setText("prompt-status", () => t("ops.playing", { id, lang: label("board.lang", lang) }));
  try {
    const blob = await apiBlob(`/api/prompts/${lang}/${encodeURIComponent(id)}`, "audio/wav");
    if (audio.src) URL.revokeObjectURL(audio.src);
    audio.src = URL.createObjectURL(blob);
    audio.dataset.playing = `${lang}/${id}`;
    await audio.play();
  } catch (err) {
    setText("prompt-status", () => (err?.status !== undefined ? errorWords(err) : t("ops.cannot_play")));
  }
}

// ——— Accounts ———

function centreOptions(select, extra) {
  const chosen = select.value;
  const ids = centres.map((c) => c.id);
  if (extra && !ids.includes(extra)) ids.push(extra);
  select.replaceChildren(...ids.map((id) => el("option", { value: id, text: centres.find((c) => c.id === id)?.name ?? id })));
  if (chosen && ids.includes(chosen)) select.value = chosen;
}

function renderAccounts() {
  centreOptions($("acc-centre"));
  $("account-table").tBodies[0].replaceChildren(
    ...accounts.map((a) =>
      el(
        "tr",
        { "data-account": a.username },
        el("th", { scope: "row", text: a.username }),
        el("td", { text: t(`board.role.${a.role}`) }),
        el("td", { text: centres.find((c) => c.id === a.centre)?.name ?? a.centre }),
        el("td", { text: a.languages.map((l) => label("board.lang", l)).join(", ") }),
        el("td", { text: a.crisis_trained ? t("ops.yes") : t("ops.no") }),
        el("td", { class: "acc-status", text: a.disabled ? t("ops.disabled") : t("ops.active_account") }),
        el(
          "td",
          { class: "nav-actions" },
          el("button", {
            type: "button",
            class: a.disabled ? "small acc-enable" : "small danger acc-disable",
            text: a.disabled ? t("ops.enable") : t("ops.disable"),
            "aria-label": t(a.disabled ? "ops.enable_for" : "ops.disable_for", { user: a.username }),
            disabled: a.username === me?.username,
            onclick: () => setDisabled(a.username, !a.disabled),
          }),
          el("button", {
            type: "button",
            class: "small acc-secret",
            text: t("ops.new_secret"),
            "aria-label": t("ops.new_secret_for", { user: a.username }),
            onclick: () => newSecret(a.username),
          }),
        ),
      ),
    ),
  );
  const edit = $("edit-username");
  const chosen = edit.value;
  edit.replaceChildren(...accounts.map((a) => el("option", { value: a.username, text: a.username })));
  if (chosen && accounts.some((a) => a.username === chosen)) edit.value = chosen;
  fillEdit();
}

/** The skills form shows the chosen account as it is. */
function fillEdit() {
  const a = accounts.find((x) => x.username === $("edit-username").value);
  if (!a) return;
  centreOptions($("edit-centre"), a.centre);
  $("edit-centre").value = a.centre;
  $("edit-en").checked = a.languages.includes("en");
  $("edit-fr").checked = a.languages.includes("fr");
  $("edit-crisis").checked = a.crisis_trained;
}

async function accountAction(work, done) {
  setText("account-status", () => t("board.sending"));
  try {
    const answer = await work();
    accounts = (await api("GET", "/api/accounts")).accounts;
    renderAccounts();
    setText("account-status", () => done(answer));
    return true;
  } catch (err) {
    setText("account-status", () => errorWords(err));
    return false;
  }
}

async function addAccount() {
  const languages = ["en", "fr"].filter((l) => $(`acc-${l}`).checked);
  const body = {
    username: $("acc-username").value.trim(),
    role: $("acc-role").value,
    centre: $("acc-centre").value,
    languages,
    crisis_trained: $("acc-crisis").checked,
    password: $("acc-password").value,
  };
  const ok = await accountAction(
    () => api("POST", "/api/accounts", body),
    (a) => t("ops.account_added", { user: a.username, secret: a.sip_secret }),
  );
  if (ok) {
    $("acc-username").value = "";
    $("acc-password").value = "";
  }
}

function setDisabled(username, disabled) {
  accountAction(
    () => api("PUT", `/api/accounts/${encodeURIComponent(username)}`, { disabled }),
    () => t(disabled ? "ops.account_disabled" : "ops.account_enabled", { user: username }),
  );
}

function newSecret(username) {
  accountAction(
    () => api("POST", `/api/accounts/${encodeURIComponent(username)}/sip-secret`),
    (a) => t("ops.secret_shown", { user: username, secret: a.sip_secret }),
  );
}

function saveSkills() {
  const username = $("edit-username").value;
  const body = {
    centre: $("edit-centre").value,
    languages: ["en", "fr"].filter((l) => $(`edit-${l}`).checked),
    crisis_trained: $("edit-crisis").checked,
  };
  accountAction(
    () => api("PUT", `/api/accounts/${encodeURIComponent(username)}`, body),
    () => t("ops.skills_saved", { user: username }),
  );
}

async function resetPassword() {
  const username = $("edit-username").value;
  const password = $("edit-password").value;
  const ok = await accountAction(
    () => api("POST", `/api/accounts/${encodeURIComponent(username)}/password`, { password }),
    () => t("ops.password_reset", { user: username }),
  );
  if (ok) $("edit-password").value = "";
}

// ——— The audit log ———

/** The audit filters as query parameters (the empty ones left out). */
function auditQuery() {
  const params = new URLSearchParams();
  for (const key of ["actor", "action", "target", "from", "to"]) {
    const value = $(`audit-${key}`).value.trim();
    if (value) params.set(key, value);
  }
  return params;
}

let auditRows = null;

async function showAudit() {
  setText("audit-status", () => t("ops.audit_loading"));
  try {
    const answer = await api("GET", `/api/audit?${auditQuery()}`);
    auditRows = answer.rows;
    setText("audit-status", () => t("ops.audit_count", { n: auditRows.length, from: answer.from, to: answer.to }));
  } catch (err) {
    setText("audit-status", () => errorWords(err));
  }
  renderAudit();
}

function renderAudit() {
  $("audit-scroll").hidden = !auditRows?.length;
  $("audit-table").tBodies[0].replaceChildren(
    ...(auditRows ?? []).map((r) =>
      el(
        "tr",
        {},
        el("td", { class: "nowrap", text: fmtDateTime(r.at_ms) }),
        el("td", { text: r.actor }),
        el("td", { text: r.action }),
        el("td", { text: r.target }),
        el("td", { text: r.outcome }),
        el("td", { text: r.detail }),
      ),
    ),
  );
}

async function downloadAudit() {
  const params = auditQuery();
  params.set("format", "csv");
  setText("audit-status", () => t("ops.audit_loading"));
  try {
    const blob = await apiBlob(`/api/audit?${params}`, "text/csv");
    const name = "frontdoor-audit.csv";
    const url = URL.createObjectURL(blob);
    const link = el("a", { href: url, download: name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    setText("audit-status", () => t("ops.audit_downloaded", { file: name }));
  } catch (err) {
    setText("audit-status", () => errorWords(err));
  }
}

// ——— Emergency mode ———

function renderEmergency() {
  if (!emergency) return;
  const on = emergency.active;
  $("emergency").dataset.on = String(on);
  $("emergency-now").textContent = on
    ? t("ops.emergency_on", { incident: emergency.incident || "—", by: emergency.changed_by ?? "", at: emergency.changed_ms ? fmtDateTime(emergency.changed_ms) : "" })
    : t("ops.emergency_off");
  const box = $("region-checks");
  const chosen = new Set([...box.querySelectorAll("input:checked")].map((i) => i.value));
  if (on && !chosen.size) for (const r of emergency.regions ?? []) chosen.add(r);
  box.replaceChildren(
    ...regions.map((r) =>
      el(
        "label",
        { class: "check" },
        el("input", { type: "checkbox", name: "region", value: r, checked: chosen.has(r), disabled: on }),
        ` ${label("region", r)}`,
      ),
    ),
  );
  const where = on && emergency.regions?.length ? emergency.regions.map((r) => label("region", r)).join(", ") : t("ops.province_wide");
  $("emergency-where").textContent = on ? t("ops.emergency_where", { where }) : "";
  $("emergency-toggle").textContent = on ? t("ops.emergency_switch_off") : t("ops.emergency_switch_on");
  $("emergency-toggle").className = on ? "primary" : "danger";
  if (on && !$("incident").value) $("incident").value = emergency.incident ?? "";
}

async function toggleEmergency() {
  const on = !emergency.active;
  const incident = $("incident").value.trim();
  setText("incident-error", null);
  $("incident").removeAttribute("aria-invalid");
  if (on && incident && !INCIDENT.test(incident)) {
    setText("incident-error", () => t("ops.incident_bad"));
    $("incident").setAttribute("aria-invalid", "true");
    $("incident").focus();
    return;
  }
  busy = true;
  try {
    const body = { active: on, message: $("emergency-message").value.trim() };
    if (on && incident) body.incident = incident;
    if (on) body.regions = [...$("region-checks").querySelectorAll("input:checked")].map((i) => i.value);
    await api("PUT", "/api/emergency", body);
    emergency = await api("GET", "/api/emergency");
    setText("flow-status", null);
  } catch (err) {
    setText("ops-error", () => errorWords(err));
  } finally {
    busy = false;
  }
  renderEmergency();
}

start();
