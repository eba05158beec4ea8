//! Fuzzes `codec::decode(Format::Json, ..)`: no panic, bounded allocation,
//! encodes without panicking, survives a protobuf round trip (fuzz/check.rs).
#![no_main]

#[path = "../check.rs"]
mod check;

#[global_allocator]
static ALLOC: check::CountingAlloc = check::CountingAlloc;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    check::run(pushgate::Format::Json, data);
});
