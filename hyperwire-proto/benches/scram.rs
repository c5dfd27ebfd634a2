//! SCRAM-SHA-256 client work per connection: a full PBKDF2 derivation (4096
//! iterations, PostgreSQL's default) against a reconnect that reuses the cached
//! salted password.
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hyperwire_proto::auth::{ScramBinding, ScramClient};

const SERVER_FIRST: &[u8] =
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

fn client() -> ScramClient {
    ScramClient::with_user(
        "user",
        b"pencil",
        "rOprNGfwEbeRWgbNEkqO".into(),
        ScramBinding::Unsupported,
    )
}

fn bench(c: &mut Criterion) {
    let mut first = client();
    first.handle_server_first(SERVER_FIRST, None).unwrap();
    let cached = first.salted_password().unwrap().clone();

    let mut group = c.benchmark_group("scram_client_final");
    group.bench_function("pbkdf2_4096", |b| {
        b.iter(|| black_box(client().handle_server_first(SERVER_FIRST, None).unwrap()))
    });
    group.bench_function("cached_salted_password", |b| {
        b.iter(|| {
            black_box(
                client()
                    .handle_server_first(SERVER_FIRST, Some(&cached))
                    .unwrap(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
