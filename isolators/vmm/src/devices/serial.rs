//! The 16550 UART at 0x3f8 (IRQ 4), from vm-superio: output to our stdout, input from our
//! stdin through a reader thread, interrupts through an irqfd.
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

use vm_superio::{Serial, Trigger};
use vmm_sys_util::eventfd::EventFd;

pub const BASE: u16 = 0x3f8;
pub const LAST: u16 = BASE + 7;
pub const IRQ: u32 = 4;

/// Raises IRQ 4 by writing the irqfd KVM listens on.
pub struct IrqTrigger(pub EventFd);

impl Trigger for IrqTrigger {
    type E = std::io::Error;
    fn trigger(&self) -> std::io::Result<()> {
        self.0.write(1)
    }
}

/// Guest output, unbuffered so the harness sees each byte at once.
pub struct Console;

impl Write for Console {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        std::io::stdout().lock().write(bytes)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().lock().flush()
    }
}

pub type Uart = Serial<IrqTrigger, vm_superio::serial::NoEvents, Console>;

/// The UART, shared between the vCPU loop and the stdin reader.
pub type SharedUart = Arc<Mutex<Uart>>;

pub fn new(irq: EventFd) -> SharedUart {
    Arc::new(Mutex::new(Serial::new(IrqTrigger(irq), Console)))
}

/// Feeds stdin into the UART's receive FIFO until EOF. Bytes that do not fit wait.
pub fn spawn_stdin_reader(uart: SharedUart) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("serial-in".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let mut buffer = [0u8; 64];
            let stdin = std::io::stdin();
            loop {
                let n = match stdin.lock().read(&mut buffer) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let mut pending = &buffer[..n];
                while !pending.is_empty() {
                    let written = uart
                        .lock()
                        .map(|mut u| u.enqueue_raw_bytes(pending).unwrap_or(0))
                        .unwrap_or(0);
                    pending = &pending[written..];
                    if written == 0 {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                }
            }
        })?;
    Ok(())
}
