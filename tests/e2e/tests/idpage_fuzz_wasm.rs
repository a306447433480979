//! The PingOne connector's id-page scanner, fuzzed against serde_json where
//! the connector runs: `tests/components/idpage-fuzz` built for
//! wasm32-wasip2 (system allocator) and run as a wasi command.
//!
//! Decision: the scanner stays in the connector only while it decodes
//! exactly as the plain serde_json path does in the guest, so the
//! differential runs inside wasmtime, not natively. It is a wasi `run`
//! command; the connector's own imports (linked in with the scanner's
//! crate) are defined as functions that fail the run, since decoding a page
//! must never reach the host. A fixed seed keeps a failure reproducible:
//! the command prints the first input on which the two decoders differ.

use std::sync::OnceLock;

use e2e_tests::components;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, ResourceTable, ResourceType};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

const PACKAGE: &str = "idpage-fuzz";
/// Fixed, so a failure names an input anyone can reproduce with
/// `idpage-fuzz --seed 29 --cases N`.
const SEED: u64 = 29;
/// Random cases after the exhaustive ones (every cut and grammar byte of
/// four real-shaped pages); a few seconds of guest time.
const CASES: u64 = 150_000;

struct Host {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// The engine, the compiled command and its linker: built once per test
/// binary (compiling the command is most of a short run).
fn command() -> &'static (Engine, Component, Linker<Host>) {
    static COMMAND: OnceLock<(Engine, Component, Linker<Host>)> = OnceLock::new();
    COMMAND.get_or_init(|| {
        components::build(&[PACKAGE]).unwrap_or_else(|e| panic!("{e}"));
        let wasm = components::target_dir()
            .join("wasm32-wasip2/release")
            .join(format!("{PACKAGE}.wasm"));
        let engine = Engine::new(&Config::new()).expect("engine");
        let component = Component::from_file(&engine, &wasm)
            .unwrap_or_else(|e| panic!("loading {}: {e:#}", wasm.display()));
        let mut linker = Linker::<Host>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("wasi");
        trap_connector_imports(&mut linker, &engine, &component);
        (engine, component, linker)
    })
}

/// Runs the fuzz command; `Ok` is its stdout, `Err` its report.
fn run_fuzz(args: &[&str]) -> Result<String, String> {
    let (engine, component, linker) = command();
    let stdout = MemoryOutputPipe::new(1 << 20);
    let stderr = MemoryOutputPipe::new(1 << 20);
    let mut argv = vec![PACKAGE];
    argv.extend_from_slice(args);
    let ctx = WasiCtx::builder()
        .args(&argv)
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .build();
    let mut store = Store::new(
        engine,
        Host {
            ctx,
            table: ResourceTable::new(),
        },
    );
    let command = Command::instantiate(&mut store, component, linker).expect("instantiating");
    let outcome = command.wasi_cli_run().call_run(&mut store);
    let out = String::from_utf8_lossy(&stdout.contents()).into_owned();
    let err = String::from_utf8_lossy(&stderr.contents()).into_owned();
    match outcome {
        Ok(Ok(())) => Ok(out),
        Ok(Err(())) => Err(format!("the fuzz failed:\n{err}{out}")),
        Err(trap) => Err(format!("the fuzz trapped: {trap:#}\n{err}{out}")),
    }
}

/// Defines the connector contract's imports (`idgov:*`) as functions that
/// fail the run. Wasmtime's `define_unknown_imports_as_traps` is not used:
/// it would also stub the wasi interfaces the command imports at an older
/// patch version than the linker's, shadowing the real ones.
fn trap_connector_imports(linker: &mut Linker<Host>, engine: &Engine, component: &Component) {
    let ty = component.component_type();
    for (name, item) in ty.imports(engine) {
        if !name.starts_with("idgov:") {
            continue;
        }
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            panic!("unexpected connector import {name}");
        };
        let mut stubs = linker.instance(name).expect("stub instance");
        for (export, item) in instance.exports(engine) {
            match item.ty {
                ComponentItem::ComponentFunc(_) => {
                    let what = format!("{name}#{export}");
                    stubs
                        .func_new(export, move |_, _, _, _| {
                            wasmtime::bail!("decoding a page called the host: {what}")
                        })
                        .expect("stub function");
                }
                ComponentItem::Resource(_) => stubs
                    .resource(export, ResourceType::host::<()>(), |_, _| Ok(()))
                    .expect("stub resource"),
                _ => {}
            }
        }
    }
}

#[test]
fn the_id_scanner_agrees_with_serde_json_in_wasm32_wasip2() {
    let seed = SEED.to_string();
    let cases = CASES.to_string();
    let out = run_fuzz(&["--seed", &seed, "--cases", &cases]).unwrap_or_else(|e| panic!("{e}"));
    // The summary proves the run happened and exercised both outcomes.
    let summary = out
        .lines()
        .find(|l| l.starts_with("idpage-fuzz: seed 29:"))
        .unwrap_or_else(|| panic!("no summary in the fuzz output:\n{out}"));
    let count = |word: &str| -> u64 {
        let at = summary.find(word).expect(word);
        summary[..at]
            .rsplit(|c: char| !c.is_ascii_digit())
            .find(|s| !s.is_empty())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count before {word:?}: {summary}"))
    };
    println!("{summary}");
    assert!(count("inputs agree") > CASES, "{summary}");
    assert!(count("decoded") > 1_000, "{summary}");
    assert!(count("refused") > 1_000, "{summary}");
}

#[test]
fn a_bad_argument_fails_the_command() {
    let err = run_fuzz(&["--cases", "many"]).expect_err("a bad argument must fail");
    assert!(err.contains("not a number"), "{err}");
}
