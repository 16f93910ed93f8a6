//! Every passkey parser that reads bytes from the browser: the routes' JSON bodies, the
//! attestation object (CBOR), authenticator data (CBOR COSE key and extensions),
//! `clientDataJSON`, and ECDSA DER signatures. None may panic, whatever the input; the
//! ceremony over arbitrary bytes must refuse (no input is signed for these settings).
#![no_main]

use edgeauth::encoding::der_signature;
use edgeauth::login::passkey::authenticator_data::AuthenticatorData;
use edgeauth::login::passkey::ceremony::{self, Expected};
use edgeauth::login::passkey::client_data::{self, Ceremony};
use edgeauth::login::passkey::request::{ManageBody, OptionsBody, RegistrationBody, SignInBody};
use edgeauth::login::passkey::{Settings, UserVerification};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let settings = Settings {
        rp_id: "example.com".into(),
        rp_name: "fuzz".into(),
        origins: vec!["https://example.com".into()],
        user_verification: UserVerification::Required,
    };
    let challenge = [7u8; 32];
    let expected = Expected {
        settings: &settings,
        challenge: &challenge,
        request_origin: "https://example.com",
    };
    let _ = RegistrationBody::parse(data);
    let _ = SignInBody::parse(data);
    let _ = OptionsBody::parse(data);
    let _ = ManageBody::parse(data);
    let _ = AuthenticatorData::parse(data);
    let _ = client_data::check(data, Ceremony::SignIn, &challenge, &settings, "https://example.com");
    let _ = der_signature::p256_raw(data);
    // Split the input into client data and an attestation object: the client data cannot carry
    // our challenge by chance often, so most of the CBOR paths are reached through the parser
    // calls above; this one checks the whole ceremony never panics.
    let split = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let (client, attestation) = data.split_at(split);
    let _ = ceremony::register(&expected, client, attestation, b"id");
});
