use super::*;

const SECRET: [u8; 32] = [7; 32];
const T0: u64 = 1_795_000_000;

fn server() -> DigestServer {
    DigestServer::new(DigestConfig::default(), SECRET)
}

/// A client answer to the server's first challenge of `algorithm`.
fn answer(
    server: &mut DigestServer,
    client: &mut DigestClient,
    algorithm: Algorithm,
    now: u64,
) -> Credentials {
    let values: Vec<String> = server
        .challenges(now, false)
        .into_iter()
        .filter(|c| c.algorithm == algorithm)
        .map(|c| c.to_string())
        .collect();
    client
        .on_challenge_values(false, values.iter().map(String::as_str))
        .unwrap();
    client
        .credentials("REGISTER", "sip:frontdoor.example", "c0ffee")
        .unwrap()
}

fn verify(server: &mut DigestServer, now: u64, creds: &Credentials) -> Result<(), DigestError> {
    let ha1 = ha1(creds.algorithm, "alice", DEFAULT_REALM, "s3cret");
    server.verify(
        now,
        "REGISTER",
        "sip:frontdoor.example",
        creds,
        "alice",
        &ha1,
    )
}

// ---- test vectors ---------------------------------------------------------

#[test]
fn rfc7616_md5_vector() {
    let auth = Credentials::parse(
        "Digest username=\"Mufasa\",\r\n realm=\"http-auth@example.org\",\r\n \
         uri=\"/dir/index.html\",\r\n algorithm=MD5,\r\n \
         nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\r\n nc=00000001,\r\n \
         cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\",\r\n qop=auth,\r\n \
         response=\"8ca523f5e9506fed4657c9700eebdbec\",\r\n \
         opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
    )
    .unwrap();
    let ha1 = ha1(
        Algorithm::Md5,
        "Mufasa",
        "http-auth@example.org",
        "Circle of Life",
    );
    let got = response(
        Algorithm::Md5,
        &ha1,
        &auth.nonce,
        Some(QopAuth {
            nc: auth.nc().unwrap(),
            cnonce: auth.cnonce().unwrap(),
        }),
        "GET",
        &auth.uri,
    );
    assert_eq!(got, "8ca523f5e9506fed4657c9700eebdbec");
    assert_eq!(got, auth.response);
}

#[test]
fn rfc7616_sha256_vector() {
    let ha1 = ha1(
        Algorithm::Sha256,
        "Mufasa",
        "http-auth@example.org",
        "Circle of Life",
    );
    let got = response(
        Algorithm::Sha256,
        &ha1,
        "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        Some(QopAuth {
            nc: 1,
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        }),
        "GET",
        "/dir/index.html",
    );
    assert_eq!(
        got,
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
}

#[test]
fn rfc2617_md5_vector() {
    let ha1 = ha1(
        Algorithm::Md5,
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
    );
    let got = response(
        Algorithm::Md5,
        &ha1,
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        Some(QopAuth {
            nc: 1,
            cnonce: "0a4f113b",
        }),
        "GET",
        "/dir/index.html",
    );
    assert_eq!(got, "6629fae49393a05397450978507c4ef1");
}

#[test]
fn rfc7616_challenges_parse() {
    let sha = Challenge::parse(
        "Digest\r\n realm=\"http-auth@example.org\",\r\n qop=\"auth, auth-int\",\r\n \
         algorithm=SHA-256,\r\n nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\r\n \
         opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
    )
    .unwrap();
    assert_eq!(sha.algorithm, Algorithm::Sha256);
    assert_eq!(sha.realm, "http-auth@example.org");
    assert_eq!(sha.qop, vec!["auth", "auth-int"]);
    assert!(sha.offers_auth());
    assert!(!sha.stale);
    assert_eq!(
        sha.opaque.as_deref(),
        Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
    );
    // The client picks SHA-256 out of the pair and reproduces the RFC's answer.
    let md5 = sha.to_string().replace("SHA-256", "MD5");
    let mut client = DigestClient::new("Mufasa", "Circle of Life");
    client
        .on_challenge_values(false, [md5.as_str(), sha.to_string().as_str()])
        .unwrap();
    let creds = client
        .credentials(
            "GET",
            "/dir/index.html",
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        )
        .unwrap();
    assert_eq!(creds.algorithm, Algorithm::Sha256);
    assert_eq!(
        creds.response,
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
    assert_eq!(creds.nc(), Some(1));
    assert_eq!(
        creds.opaque.as_deref(),
        Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
    );
}

#[test]
fn hmac_sha256_rfc4231_case_1_and_2() {
    assert_eq!(
        hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    );
    assert_eq!(
        hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    // Case 6: a key longer than the block is hashed first.
    assert_eq!(
        hex(&hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First"
        )),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
}

#[test]
fn ha1_matches_a_known_value() {
    // MD5("alice:frontdoor:s3cret"), computed independently.
    let md5 = ha1(Algorithm::Md5, "alice", "frontdoor", "s3cret");
    assert_eq!(md5, Algorithm::Md5.hash_hex(b"alice:frontdoor:s3cret"));
    assert_eq!(md5.len(), 32);
    assert_eq!(
        Algorithm::Md5.hash_hex(b""),
        "d41d8cd98f00b204e9800998ecf8427e"
    );
    assert_eq!(
        Algorithm::Sha256.hash_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

// ---- server: challenges ---------------------------------------------------

#[test]
fn challenges_in_the_configured_order_with_a_shared_nonce() {
    let mut s = server();
    let c = s.challenges(T0, false);
    assert_eq!(c.len(), 2);
    // The default: MD5 first (devices answer the first), then SHA-256.
    assert_eq!(c[0].algorithm, Algorithm::Md5);
    assert_eq!(c[1].algorithm, Algorithm::Sha256);
    assert_eq!(c[0].nonce, c[1].nonce);
    assert_eq!(c[0].realm, "frontdoor");
    assert!(c[0].to_string().contains("algorithm=MD5"));
    let text = c[1].to_string();
    assert!(text.starts_with("Digest realm=\"frontdoor\", nonce=\""));
    assert!(text.contains("algorithm=SHA-256"));
    assert!(text.contains("qop=\"auth\""));
    assert!(!text.contains("stale"));
    assert_eq!(Challenge::parse(&text).unwrap(), c[1]);
    let stale = s.challenges(T0, true);
    assert!(stale[0].to_string().ends_with(", stale=true"));
    assert!(Challenge::parse(&stale[1].to_string()).unwrap().stale);
    // Every challenge gets a new nonce.
    assert_ne!(stale[0].nonce, c[0].nonce);
}

// ---- server: round trips and failures -------------------------------------

#[test]
fn round_trip_md5_and_sha256() {
    for algorithm in [Algorithm::Md5, Algorithm::Sha256] {
        let mut s = server();
        let mut client = DigestClient::new("alice", "s3cret");
        let creds = answer(&mut s, &mut client, algorithm, T0);
        assert_eq!(creds.algorithm, algorithm);
        // Through the header text, as the wire carries it.
        let parsed = Credentials::parse(&creds.to_string()).unwrap();
        assert_eq!(parsed, creds);
        verify(&mut s, T0 + 1, &parsed).unwrap();
        assert_eq!(s.tracked_nonces(), 1);
        // The next request under the same nonce, nc=2.
        let next = client
            .credentials("REGISTER", "sip:frontdoor.example", "beef")
            .unwrap();
        assert_eq!(next.nc(), Some(2));
        verify(&mut s, T0 + 2, &next).unwrap();
    }
}

#[test]
fn wrong_password_is_wrong_response() {
    let mut s = server();
    let mut client = DigestClient::new("alice", "guess");
    let creds = answer(&mut s, &mut client, Algorithm::Sha256, T0);
    assert_eq!(verify(&mut s, T0, &creds), Err(DigestError::WrongResponse));
    // A failed attempt records nothing.
    assert_eq!(s.tracked_nonces(), 0);
}

#[test]
fn tampered_fields_are_refused() {
    let mut s = server();
    let mut client = DigestClient::new("alice", "s3cret");
    let good = answer(&mut s, &mut client, Algorithm::Md5, T0);

    let mut c = good.clone();
    c.qop = Some((7, "c0ffee".into()));
    assert_eq!(verify(&mut s, T0, &c), Err(DigestError::WrongResponse));

    let mut c = good.clone();
    c.qop = Some((1, "other".into()));
    assert_eq!(verify(&mut s, T0, &c), Err(DigestError::WrongResponse));

    let mut c = good.clone();
    c.response = "0".repeat(32);
    assert_eq!(verify(&mut s, T0, &c), Err(DigestError::WrongResponse));

    // The nonce's timestamp pushed forward: the MAC no longer matches.
    let mut c = good.clone();
    c.nonce = format!("{:016x}{}", T0 + 10_000, &good.nonce[16..]);
    assert_eq!(verify(&mut s, T0, &c), Err(DigestError::ForgedNonce));

    let mut c = good.clone();
    c.nonce = "abc".into();
    assert_eq!(verify(&mut s, T0, &c), Err(DigestError::ForgedNonce));

    // Another secret never issued this nonce.
    let mut other = DigestServer::new(DigestConfig::default(), [8; 32]);
    assert_eq!(verify(&mut other, T0, &good), Err(DigestError::ForgedNonce));

    let mut c = good.clone();
    c.realm = "elsewhere".into();
    assert_eq!(
        verify(&mut s, T0, &c),
        Err(DigestError::RealmMismatch("elsewhere".into()))
    );

    let mut c = good.clone();
    c.username = "bob".into();
    assert!(matches!(
        verify(&mut s, T0, &c),
        Err(DigestError::UsernameMismatch { .. })
    ));

    let mut c = good.clone();
    c.uri = "sip:elsewhere.example".into();
    assert!(matches!(
        verify(&mut s, T0, &c),
        Err(DigestError::UriMismatch { .. })
    ));

    // The untouched credentials still pass (nothing above was recorded).
    verify(&mut s, T0, &good).unwrap();
}

#[test]
fn uri_compared_as_a_uri() {
    let mut s = server();
    let mut client = DigestClient::new("alice", "s3cret");
    let values: Vec<String> = s
        .challenges(T0, false)
        .iter()
        .map(|c| c.to_string())
        .collect();
    client
        .on_challenge_values(false, values.iter().map(String::as_str))
        .unwrap();
    let creds = client
        .credentials("REGISTER", "SIP:Frontdoor.Example", "x")
        .unwrap();
    let ha1 = ha1(creds.algorithm, "alice", DEFAULT_REALM, "s3cret");
    s.verify(
        T0,
        "REGISTER",
        "sip:frontdoor.example",
        &creds,
        "alice",
        &ha1,
    )
    .unwrap();
}

#[test]
fn stale_nonce_after_ttl_but_only_with_a_right_response() {
    let mut s = server();
    let mut client = DigestClient::new("alice", "s3cret");
    let creds = answer(&mut s, &mut client, Algorithm::Sha256, T0);
    let late = T0 + DEFAULT_NONCE_TTL + 1;
    let err = verify(&mut s, late, &creds).unwrap_err();
    assert_eq!(err, DigestError::Stale);
    assert!(err.is_stale());
    // At exactly the TTL it is still good.
    verify(&mut s, T0 + DEFAULT_NONCE_TTL, &creds).unwrap();
    // A wrong password with an old nonce is a wrong password, not stale.
    let mut wrong = DigestClient::new("alice", "guess");
    let bad = answer(&mut s, &mut wrong, Algorithm::Sha256, T0);
    assert_eq!(verify(&mut s, late, &bad), Err(DigestError::WrongResponse));
}

#[test]
fn replayed_nc_is_refused() {
    let mut s = server();
    let mut client = DigestClient::new("alice", "s3cret");
    let first = answer(&mut s, &mut client, Algorithm::Md5, T0);
    verify(&mut s, T0, &first).unwrap();
    assert_eq!(
        verify(&mut s, T0 + 1, &first),
        Err(DigestError::Replay { nc: 1, last: 1 })
    );
    let second = client
        .credentials("REGISTER", "sip:frontdoor.example", "c2")
        .unwrap();
    let third = client
        .credentials("REGISTER", "sip:frontdoor.example", "c3")
        .unwrap();
    // nc may skip (a lost request) but never go back.
    verify(&mut s, T0 + 2, &third).unwrap();
    assert_eq!(
        verify(&mut s, T0 + 3, &second),
        Err(DigestError::Replay { nc: 2, last: 3 })
    );
}

#[test]
fn nc_zero_is_refused() {
    let mut s = server();
    let nonce = s.challenges(T0, false)[0].nonce.clone();
    let ha1 = ha1(Algorithm::Md5, "alice", DEFAULT_REALM, "s3cret");
    let creds = Credentials {
        username: "alice".into(),
        realm: DEFAULT_REALM.into(),
        uri: "sip:frontdoor.example".into(),
        response: response(
            Algorithm::Md5,
            &ha1,
            &nonce,
            Some(QopAuth { nc: 0, cnonce: "x" }),
            "REGISTER",
            "sip:frontdoor.example",
        ),
        nonce,
        algorithm: Algorithm::Md5,
        qop: Some((0, "x".into())),
        opaque: None,
    };
    assert!(matches!(
        verify(&mut s, T0, &creds),
        Err(DigestError::Replay { nc: 0, .. })
    ));
}

#[test]
fn without_qop_a_nonce_is_good_once() {
    let mut s = server();
    let mut client = DigestClient::new("alice", "s3cret");
    let mut challenge = s.challenges(T0, false).remove(1);
    challenge.qop.clear();
    client
        .on_challenge_values(false, [challenge.to_string().as_str()])
        .unwrap();
    let creds = client
        .credentials("REGISTER", "sip:frontdoor.example", "unused")
        .unwrap();
    assert_eq!(creds.qop, None);
    let text = creds.to_string();
    assert!(!text.contains("nc="));
    let parsed = Credentials::parse(&text).unwrap();
    verify(&mut s, T0, &parsed).unwrap();
    assert!(matches!(
        verify(&mut s, T0, &parsed),
        Err(DigestError::Replay { .. })
    ));
}

#[test]
fn tracked_nonces_are_bounded_and_forgetting_is_safe() {
    let config = DigestConfig {
        max_tracked_nonces: 3,
        ..DigestConfig::default()
    };
    let mut s = DigestServer::new(config, SECRET);
    let mut clients: Vec<(DigestClient, Credentials)> = Vec::new();
    for i in 0..5 {
        let mut client = DigestClient::new("alice", "s3cret");
        let creds = answer(&mut s, &mut client, Algorithm::Sha256, T0 + i);
        verify(&mut s, T0 + i, &creds).unwrap();
        clients.push((client, creds));
        assert!(s.tracked_nonces() <= 3);
    }
    // The first two were forgotten: a replay of them is refused as stale
    // (a re-challenge), never accepted.
    for (_, creds) in &clients[..2] {
        assert_eq!(verify(&mut s, T0 + 5, creds), Err(DigestError::Stale));
    }
    // The tracked ones still count.
    let (client, creds) = &mut clients[4];
    assert!(matches!(
        verify(&mut s, T0 + 5, creds),
        Err(DigestError::Replay { .. })
    ));
    let next = client
        .credentials("REGISTER", "sip:frontdoor.example", "n")
        .unwrap();
    verify(&mut s, T0 + 5, &next).unwrap();
    // A nonce issued after the forgotten ones is fine.
    let mut fresh = DigestClient::new("alice", "s3cret");
    let creds = answer(&mut s, &mut fresh, Algorithm::Md5, T0 + 6);
    verify(&mut s, T0 + 6, &creds).unwrap();
}

#[test]
fn expired_nonces_are_forgotten() {
    let mut s = server();
    let mut client = DigestClient::new("alice", "s3cret");
    let creds = answer(&mut s, &mut client, Algorithm::Sha256, T0);
    verify(&mut s, T0, &creds).unwrap();
    assert_eq!(s.tracked_nonces(), 1);
    s.expire(T0 + DEFAULT_NONCE_TTL);
    assert_eq!(s.tracked_nonces(), 1);
    s.expire(T0 + DEFAULT_NONCE_TTL + 1);
    assert_eq!(s.tracked_nonces(), 0);
    // Still refused after being forgotten: stale.
    assert_eq!(
        verify(&mut s, T0 + DEFAULT_NONCE_TTL + 1, &creds),
        Err(DigestError::Stale)
    );
}

#[test]
fn algorithm_not_offered_or_unknown() {
    let config = DigestConfig {
        algorithms: vec![Algorithm::Sha256],
        ..DigestConfig::default()
    };
    let mut s = DigestServer::new(config, SECRET);
    let mut client = DigestClient::new("alice", "s3cret");
    let mut md5 = s.challenges(T0, false).remove(0);
    md5.algorithm = Algorithm::Md5;
    client
        .on_challenge_values(false, [md5.to_string().as_str()])
        .unwrap();
    let creds = client
        .credentials("REGISTER", "sip:frontdoor.example", "x")
        .unwrap();
    assert_eq!(
        verify(&mut s, T0, &creds),
        Err(DigestError::UnsupportedAlgorithm("MD5".into()))
    );
    let text = creds
        .to_string()
        .replace("algorithm=MD5", "algorithm=SHA-512-256");
    assert_eq!(
        Credentials::parse(&text),
        Err(DigestError::UnsupportedAlgorithm("SHA-512-256".into()))
    );
    let text = creds
        .to_string()
        .replace("algorithm=MD5", "algorithm=MD5-sess");
    assert!(matches!(
        Credentials::parse(&text),
        Err(DigestError::UnsupportedAlgorithm(_))
    ));
}

#[test]
fn missing_ha1_is_no_credentials() {
    let mut s = server();
    let mut client = DigestClient::new("alice", "s3cret");
    let creds = answer(&mut s, &mut client, Algorithm::Sha256, T0);
    assert_eq!(
        s.verify(T0, "REGISTER", "sip:frontdoor.example", &creds, "alice", ""),
        Err(DigestError::NoCredentials(Algorithm::Sha256))
    );
    // An MD5 HA1 offered for a SHA-256 response: wrong length.
    let md5 = ha1(Algorithm::Md5, "alice", DEFAULT_REALM, "s3cret");
    assert_eq!(
        s.verify(
            T0,
            "REGISTER",
            "sip:frontdoor.example",
            &creds,
            "alice",
            &md5
        ),
        Err(DigestError::NoCredentials(Algorithm::Sha256))
    );
}

#[test]
fn uppercase_hex_is_accepted() {
    let mut s = server();
    let mut client = DigestClient::new("alice", "s3cret");
    let creds = answer(&mut s, &mut client, Algorithm::Md5, T0);
    let text = creds
        .to_string()
        .replace(&creds.response, &creds.response.to_ascii_uppercase());
    let parsed = Credentials::parse(&text).unwrap();
    let ha1 = ha1(Algorithm::Md5, "alice", DEFAULT_REALM, "s3cret").to_ascii_uppercase();
    s.verify(
        T0,
        "REGISTER",
        "sip:frontdoor.example",
        &parsed,
        "alice",
        &ha1,
    )
    .unwrap();
}

// ---- parsing ----------------------------------------------------------------

#[test]
fn parser_handles_lws_escapes_and_empty_elements() {
    let c = Credentials::parse(
        "digest  username = \"al\\\"ice\" ,, realm=\"frontdoor\",nonce=\"n, with comma\",\
         uri=\"sip:a@b;transport=tcp\" , response=\"0123456789abcdef0123456789abcdef\",\
         qop=AUTH,nc=0000000a,cnonce=\"x\",",
    )
    .unwrap();
    assert_eq!(c.username, "al\"ice");
    assert_eq!(c.nonce, "n, with comma");
    assert_eq!(c.uri, "sip:a@b;transport=tcp");
    assert_eq!(c.algorithm, Algorithm::Md5);
    assert_eq!(c.nc(), Some(10));
    // Display quotes it back so that it parses the same.
    assert_eq!(Credentials::parse(&c.to_string()).unwrap(), c);
}

#[test]
fn malformed_headers_are_errors_not_panics() {
    let good = "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", \
                response=\"0123456789abcdef0123456789abcdef\"";
    Credentials::parse(good).unwrap();
    type Expect = fn(&DigestError) -> bool;
    let cases: &[(&str, Expect)] = &[
        ("", |e| matches!(e, DigestError::Malformed(_))),
        ("   ", |e| matches!(e, DigestError::Malformed(_))),
        ("Digest", |e| matches!(e, DigestError::Malformed(_))),
        ("Digest ", |e| matches!(e, DigestError::Malformed(_))),
        ("Basic YWxhZGRpbjpvcGVuc2VzYW1l", |e| {
            matches!(e, DigestError::NotDigest(_))
        }),
        ("Digest username", |e| {
            matches!(e, DigestError::Malformed(_))
        }),
        ("Digest username=", |e| {
            matches!(e, DigestError::Malformed(_))
        }),
        ("Digest username=\"open", |e| {
            matches!(e, DigestError::Malformed(_))
        }),
        ("Digest username=\"esc\\", |e| {
            matches!(e, DigestError::Malformed(_))
        }),
        ("Digest =x", |e| matches!(e, DigestError::Malformed(_))),
        ("Digest a=b c=d", |e| matches!(e, DigestError::Malformed(_))),
        ("Digest a=\"b\"c", |e| {
            matches!(e, DigestError::Malformed(_))
        }),
        ("Digest a=b, a=c", |e| {
            matches!(e, DigestError::Malformed(_))
        }),
        ("Digest\"x\"", |e| matches!(e, DigestError::Malformed(_))),
        ("Digest realm=\"r\"", |e| {
            matches!(e, DigestError::Missing("username"))
        }),
        ("Digestusername=\"a\"", |e| {
            matches!(e, DigestError::NotDigest(_))
        }),
        ("Digest username=\"é\", realm=\"r\"", |e| {
            matches!(e, DigestError::Missing("nonce"))
        }),
        ("Digest username=é", |e| {
            matches!(e, DigestError::Malformed(_))
        }),
    ];
    for (text, expected) in cases {
        let err = Credentials::parse(text).unwrap_err();
        assert!(expected(&err), "{text:?} gave {err:?}");
        // Challenges share the tokenizer.
        assert!(Challenge::parse(text).is_err(), "{text:?}");
    }
    let with = |extra: &str| Credentials::parse(&format!("{good}, {extra}"));
    assert!(matches!(with("qop=auth"), Err(DigestError::Missing("nc"))));
    assert!(matches!(
        with("qop=auth, nc=1"),
        Err(DigestError::Malformed(_))
    ));
    assert!(matches!(
        with("qop=auth, nc=0000000g, cnonce=\"c\""),
        Err(DigestError::Malformed(_))
    ));
    assert!(matches!(
        with("qop=auth, nc=00000001"),
        Err(DigestError::Missing("cnonce"))
    ));
    assert!(matches!(
        with("qop=auth-int, nc=00000001, cnonce=\"c\""),
        Err(DigestError::UnsupportedQop(_))
    ));
    assert!(matches!(
        with("userhash=true"),
        Err(DigestError::Unsupported(_))
    ));
    assert!(matches!(
        with("algorithm=SHA-256"),
        Err(DigestError::Malformed(_)) // a 32-digit response for SHA-256
    ));
    assert!(matches!(
        Credentials::parse(&good.replace("0123456789abcdef0123", "0123456789abcdefxyzw")),
        Err(DigestError::Malformed(_))
    ));
    // Challenges: realm and nonce are mandatory.
    assert_eq!(
        Challenge::parse("Digest nonce=\"n\""),
        Err(DigestError::Missing("realm"))
    );
    assert_eq!(
        Challenge::parse("Digest realm=\"r\""),
        Err(DigestError::Missing("nonce"))
    );
}

#[test]
fn parser_survives_arbitrary_bytes() {
    // A cheap deterministic fuzz: every prefix and byte-flip of real headers.
    let mut s = server();
    let mut client = DigestClient::new("alice", "s3cret");
    let creds = answer(&mut s, &mut client, Algorithm::Sha256, T0).to_string();
    let challenge = s.challenges(T0, true)[0].to_string();
    let mut rng = fastrand::Rng::with_seed(5);
    for text in [creds, challenge] {
        for end in 0..=text.len() {
            if let Some(prefix) = text.get(..end) {
                let _ = Credentials::parse(prefix);
                let _ = Challenge::parse(prefix);
            }
        }
        for _ in 0..2000 {
            let mut bytes = text.clone().into_bytes();
            let i = rng.usize(..bytes.len());
            bytes[i] = *rng.choice(b"\"\\,= \t\r\nDa\x00\xff".iter()).unwrap();
            let mutated = String::from_utf8_lossy(&bytes);
            if let Ok(c) = Credentials::parse(&mutated) {
                let _ = verify(&mut s, T0, &c);
            }
            let _ = Challenge::parse(&mutated);
        }
    }
}

// ---- client -----------------------------------------------------------------

fn challenge_response(code: u16, headers: &[(&str, String)]) -> Response {
    let mut text = format!(
        "SIP/2.0 {code} Unauthorized\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa\r\n\
         From: <sip:211@frontdoor.example>;tag=1\r\nTo: <sip:+16135550123@trunk.example>;tag=2\r\n\
         Call-ID: cb-1\r\nCSeq: 1 INVITE\r\n"
    );
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    match crate::message::parse(text.as_bytes()).unwrap() {
        rsip::SipMessage::Response(r) => r,
        _ => unreachable!(),
    }
}

fn invite() -> Request {
    let text = "INVITE sip:+16135550123@trunk.example SIP/2.0\r\n\
                Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKb\r\n\
                From: <sip:211@frontdoor.example>;tag=1\r\n\
                To: <sip:+16135550123@trunk.example>\r\nCall-ID: cb-1\r\nCSeq: 2 INVITE\r\n\
                Content-Length: 0\r\n\r\n";
    match crate::message::parse(text.as_bytes()).unwrap() {
        rsip::SipMessage::Request(r) => r,
        _ => unreachable!(),
    }
}

#[test]
fn client_answers_401_with_authorization() {
    let mut trunk = DigestServer::new(
        DigestConfig {
            realm: "trunk.example".into(),
            ..DigestConfig::default()
        },
        SECRET,
    );
    let values: Vec<(&str, String)> = trunk
        .challenges(T0, false)
        .iter()
        .map(|c| ("WWW-Authenticate", c.to_string()))
        .collect();
    let mut client = DigestClient::new("frontdoor", "trunkpw");
    client
        .on_challenge(&challenge_response(401, &values))
        .unwrap();
    assert_eq!(client.challenge().unwrap().algorithm, Algorithm::Sha256);
    let mut request = invite();
    assert!(client.authorize(&mut request, "cn1"));
    // Authorizing again replaces our header (nc 2), never duplicates it.
    assert!(client.authorize(&mut request, "cn2"));
    let auths: Vec<&str> = request
        .headers
        .iter()
        .filter_map(|h| match h {
            Header::Authorization(a) => Some(a.value()),
            _ => None,
        })
        .collect();
    assert_eq!(auths.len(), 1);
    assert!(
        !request
            .headers
            .iter()
            .any(|h| matches!(h, Header::ProxyAuthorization(_)))
    );
    // Through the wire and back.
    let bytes = crate::message::to_bytes(&rsip::SipMessage::Request(request));
    let rsip::SipMessage::Request(request) = crate::message::parse(&bytes).unwrap() else {
        unreachable!()
    };
    let value = request
        .headers
        .iter()
        .find_map(|h| match h {
            Header::Authorization(a) => Some(a.value().to_owned()),
            _ => None,
        })
        .unwrap();
    let creds = Credentials::parse(&value).unwrap();
    assert_eq!(creds.nc(), Some(2));
    assert_eq!(creds.cnonce(), Some("cn2"));
    assert_eq!(creds.uri, "sip:+16135550123@trunk.example");
    let ha1 = ha1(Algorithm::Sha256, "frontdoor", "trunk.example", "trunkpw");
    trunk
        .verify(
            T0,
            "INVITE",
            &request.uri.to_string(),
            &creds,
            "frontdoor",
            &ha1,
        )
        .unwrap();
}

#[test]
fn client_answers_407_with_proxy_authorization() {
    let mut trunk = server();
    let values: Vec<(&str, String)> = trunk
        .challenges(T0, false)
        .iter()
        .map(|c| ("Proxy-Authenticate", c.to_string()))
        .collect();
    let mut client = DigestClient::new("alice", "s3cret");
    client
        .on_challenge(&challenge_response(407, &values))
        .unwrap();
    let mut request = invite();
    assert!(client.authorize(&mut request, "cn"));
    assert!(
        request
            .headers
            .iter()
            .any(|h| matches!(h, Header::ProxyAuthorization(_)))
    );
    assert!(
        !request
            .headers
            .iter()
            .any(|h| matches!(h, Header::Authorization(_)))
    );
}

#[test]
fn client_detects_rejection_and_follows_stale() {
    let mut s = server();
    let first = s.challenges(T0, false);
    let values: Vec<String> = first.iter().map(|c| c.to_string()).collect();
    let mut client = DigestClient::new("alice", "wrong");
    let mut request = invite();
    // Before any challenge there is nothing to add.
    assert!(!client.authorize(&mut request, "x"));
    client
        .on_challenge_values(false, values.iter().map(String::as_str))
        .unwrap();
    assert!(client.authorize(&mut request, "x"));
    // The same nonce again, not stale: our credentials were refused.
    assert_eq!(
        client.on_challenge_values(false, values.iter().map(String::as_str)),
        Err(DigestError::Rejected)
    );
    // stale=true with the same nonce is still a retry (a fresh count).
    let mut stale = first[0].clone();
    stale.stale = true;
    client
        .on_challenge_values(false, [stale.to_string().as_str()])
        .unwrap();
    // A new nonce is answered.
    let fresh: Vec<String> = s
        .challenges(T0 + 1, false)
        .iter()
        .map(|c| c.to_string())
        .collect();
    client
        .on_challenge_values(false, fresh.iter().map(String::as_str))
        .unwrap();
    let creds = client.credentials("INVITE", "sip:x", "y").unwrap();
    assert_eq!(creds.nc(), Some(1));
}

#[test]
fn client_skips_challenges_it_cannot_answer() {
    let mut client = DigestClient::new("alice", "s3cret");
    let r = client.on_challenge_values(
        false,
        [
            "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256, qop=\"auth\"",
            "Digest realm=\"r\", nonce=\"n\", algorithm=MD5, qop=\"auth-int\"",
            "Basic realm=\"r\"",
        ],
    );
    assert_eq!(r, Err(DigestError::NoChallenge));
    client
        .on_challenge_values(
            false,
            [
                "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256, qop=\"auth\"",
                "Digest realm=\"r\", nonce=\"n\", algorithm=MD5, qop=\"auth,auth-int\"",
            ],
        )
        .unwrap();
    assert_eq!(client.challenge().unwrap().algorithm, Algorithm::Md5);
    // A response that is not a challenge.
    let ok = challenge_response(200, &[]);
    assert_eq!(client.on_challenge(&ok), Err(DigestError::NoChallenge));
}

#[test]
fn real_client_header_shapes_verify() {
    // The layouts of common SIP clients: no spaces (baresip), an empty
    // opaque first (Linphone), qop quoted and algorithm last (older phones).
    let mut s = server();
    let nonce = s.challenges(T0, false)[0].nonce.clone();
    let uri = "sip:frontdoor.example";
    for (i, algorithm) in [Algorithm::Md5, Algorithm::Sha256, Algorithm::Md5]
        .into_iter()
        .enumerate()
    {
        let ha1 = ha1(algorithm, "alice", DEFAULT_REALM, "s3cret");
        let nc = i as u32 + 1;
        let cnonce = format!("cn{i}");
        let resp = response(
            algorithm,
            &ha1,
            &nonce,
            Some(QopAuth {
                nc,
                cnonce: &cnonce,
            }),
            "REGISTER",
            uri,
        );
        let text = match i {
            0 => format!(
                "Digest username=\"alice\",realm=\"frontdoor\",nonce=\"{nonce}\",uri=\"{uri}\",\
                 response=\"{resp}\",algorithm=MD5,cnonce=\"{cnonce}\",qop=auth,nc={nc:08x}"
            ),
            1 => format!(
                "Digest realm=\"frontdoor\", nonce=\"{nonce}\", algorithm=SHA-256, opaque=\"\", \
                 username=\"alice\",  uri=\"{uri}\", response=\"{resp}\", cnonce=\"{cnonce}\", \
                 nc={nc:08X}, qop=auth"
            ),
            _ => format!(
                "Digest username=\"alice\",realm=\"frontdoor\",uri=\"{uri}\",\
                 response=\"{}\",nonce=\"{nonce}\",cnonce=\"{cnonce}\",qop=\"auth\",\
                 algorithm=md5,nc={nc:08x}",
                resp.to_ascii_uppercase()
            ),
        };
        let creds = Credentials::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        s.verify(T0, "REGISTER", uri, &creds, "alice", &ha1)
            .unwrap_or_else(|e| panic!("{text}: {e}"));
    }
}
