#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| linekeeper_fuzz::e164(data));
