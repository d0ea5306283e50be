//! End-to-end tests: the real `frontdoor` binary against real peers (sipp,
//! baresip) over real sockets on loopback. One test binary, one module per
//! area. The peers come from Debian packages that `scripts/test` installs.

mod acd;
mod baresip;
mod browser;
mod browser_phone;
mod carrier;
mod directory;
mod external;
mod fault;
mod flow_cli;
mod harness;
mod ivr;
mod malformed;
mod ops;
mod postgres;
mod proxy;
mod records;
mod registrar;
mod reports;
mod sip_calls;
mod startup;
mod tls;
