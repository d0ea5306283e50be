//! frontdoor-cti: the HTTP API, the CTI websocket and the store.
