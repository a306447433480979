//! Captures everything the process logs, at every level, in memory.
//!
//! The secret-leak tests search this text: whatever the host, its HTTP
//! stack or a guest logs must never contain a secret's value. `log` records
//! (from the HTTP stack) are bridged into the same buffer.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::fmt::MakeWriter;

/// The process-wide log buffer.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

pub struct BufferWriter(Arc<Mutex<Vec<u8>>>);

impl Write for BufferWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogBuffer {
    type Writer = BufferWriter;

    fn make_writer(&'a self) -> Self::Writer {
        BufferWriter(self.0.clone())
    }
}

/// Installs the capturing subscriber (once per process) and returns it.
pub fn capture() -> LogBuffer {
    static BUFFER: OnceLock<LogBuffer> = OnceLock::new();
    BUFFER
        .get_or_init(|| {
            let buffer = LogBuffer::default();
            // Everything at every level, except the compiler's trace output
            // (megabytes per component, produced before any config exists).
            let filter = tracing_subscriber::EnvFilter::new(
                "trace,cranelift=info,regalloc2=info,wasmtime=info,wasmparser=info",
            );
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(false)
                .with_writer(buffer.clone())
                .try_init()
                .expect("installing the capturing subscriber");
            buffer
        })
        .clone()
}
