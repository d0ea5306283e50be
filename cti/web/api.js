// api.js — same-origin HTTP calls with the session's token (kept per tab in
// sessionStorage). Any 401 but the login's own means the session has ended.

const TOKEN_KEY = "frontdoor.token";
let expiredHandler = () => {};

export const getToken = () => sessionStorage.getItem(TOKEN_KEY);

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** Called whenever the server answers 401 to a call made with the token. */
export const onSessionExpired = (handler) => { expiredHandler = handler; };

class ApiError extends Error {
  /** status 0: the server could not be reached. */
  constructor(status, message = "", retryAfterS = null) {
    super(message || `HTTP ${status}`);
    this.status = status;
    this.retryAfterS = retryAfterS;
  }
}

/** Calls the server; resolves with the JSON answer (null for 204) or throws ApiError. */
export async function api(method, path, body) {
  const res = await request(method, path, body, "application/json");
  if (res.status === 204) return null;
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

/**
 * GETs a file (a CSV export): resolves with its bytes exactly as sent, as a
 * Blob of the answer's type, or throws ApiError like `api`.
 */
export async function apiBlob(path, accept = "*/*") {
  const res = await request("GET", path, undefined, accept);
  const bytes = await res.arrayBuffer();
  return new Blob([bytes], { type: res.headers.get("Content-Type") ?? "application/octet-stream" });
}

/** One request with the token; resolves with a 2xx Response, else throws ApiError. */
async function request(method, path, body, accept) {
  const headers = { Accept: accept };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "same-origin",
    });
  } catch {
    throw new ApiError(0);
  }
  if (!res.ok) {
    let message = "";
    try {
      message = (await res.json()).error ?? "";
    } catch {
      // not JSON: the status says enough
    }
    if (res.status === 401 && path !== "/api/login") expiredHandler();
    throw new ApiError(res.status, message, Number(res.headers.get("Retry-After")) || null);
  }
  return res;
}
