//! Fuzz target `soracom_response`: `soracom_key_rotator_fuzz::check_soracom_error` must hold for any input, without panicking.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = soracom_key_rotator_fuzz::check_soracom_error(data) {
        panic!("property violated: {e}");
    }
});
