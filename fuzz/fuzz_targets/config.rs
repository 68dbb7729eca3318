//! Fuzz target `config`: `soracom_key_rotator_fuzz::check_config` must hold for any input, without panicking.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = soracom_key_rotator_fuzz::check_config(data) {
        panic!("property violated: {e}");
    }
});
