// login.js — the sign-in form the desk and the reports share (#login-form,
// #username, #password, #login-submit, #login-error): its checks, the
// request, and its error in the page's language (shown again when the
// language changes).

import { $ } from "./dom.js";
import { t, fmtDuration } from "./i18n.js";
import { api, setToken } from "./api.js";

let shown = null; // () => the error, in the current language

/**
 * Wires the form. Once the server gives a token it is kept, the password
 * field emptied, and `signedIn(username)` runs; `words(err)` says any other
 * failure.
 */
export function initLogin({ signedIn, words }) {
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const username = $("username").value.trim();
    const password = $("password").value;
    setLoginError(null);
    if (!username || !password) {
      setLoginError(() => t("login.missing"), [!username ? "username" : "password"]);
      return;
    }
    const button = $("login-submit");
    button.disabled = true;
    let waitS = 0;
    try {
      const answer = await api("POST", "/api/login", { username, password });
      setToken(answer.token);
      $("password").value = "";
      await signedIn(username);
    } catch (err) {
      if (err.status === 401) setLoginError(() => t("login.bad"), ["username", "password"]);
      else if (err.status === 429) {
        waitS = err.retryAfterS ?? 60;
        setLoginError(() => t("login.throttled", { time: fmtDuration(waitS) }));
      } else setLoginError(() => words(err));
    } finally {
      setTimeout(() => {
        button.disabled = false;
      }, waitS * 1000);
    }
  });
}

/** Shows (or clears) the login error; the `fields` named are marked invalid, the first focused. */
export function setLoginError(text, fields = []) {
  shown = text;
  $("login-error").textContent = text ? text() : "";
  for (const id of ["username", "password"]) {
    if (fields.includes(id)) {
      $(id).setAttribute("aria-invalid", "true");
      $(id).setAttribute("aria-describedby", "login-error");
    } else {
      $(id).removeAttribute("aria-invalid");
      $(id).removeAttribute("aria-describedby");
    }
  }
  if (fields.length) $(fields[0]).focus();
}

/** The error again, in the page's new language. */
export function relabelLogin() {
  if (shown) $("login-error").textContent = shown();
}
