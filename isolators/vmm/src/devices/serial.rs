//! The 16550 UART at 0x3f8 (IRQ 4), from vm-superio: output to our stdout, input from our
//! stdin through a reader thread, interrupts through an irqfd.
use std::io::{Read, Write};
use std::sync::{Arc, Condvar, Mutex};

use vm_superio::serial::{Error as SerialError, NoEvents, SerialState};
use vm_superio::{Serial, Trigger};
use vmm_sys_util::eventfd::EventFd;

pub const BASE: u16 = 0x3f8;
pub const LAST: u16 = BASE + 7;
pub const IRQ: u32 = 4;
/// Offset of the receive/transmit data register.
const DATA: u8 = 0;

/// Raises IRQ 4 by writing the irqfd KVM listens on.
pub struct IrqTrigger(pub EventFd);

impl Trigger for IrqTrigger {
    type E = std::io::Error;
    fn trigger(&self) -> std::io::Result<()> {
        self.0.write(1)
    }
}

/// Guest output, unbuffered so the harness sees each byte at once (vm-superio flushes after
/// every byte).
pub struct Console;

impl Write for Console {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        std::io::stdout().lock().write(bytes)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().lock().flush()
    }
}

/// The UART, shared by the vCPU loop (port I/O) and the stdin reader (input).
pub struct Uart {
    serial: Mutex<Serial<IrqTrigger, NoEvents, Console>>,
    /// Signalled when the guest reads the data register: room in the receive FIFO.
    drained: Condvar,
}

impl Uart {
    pub fn new(irq: EventFd) -> Arc<Uart> {
        Arc::new(Uart {
            serial: Mutex::new(Serial::new(IrqTrigger(irq), Console)),
            drained: Condvar::new(),
        })
    }

    /// A UART holding a snapshot's register values and receive FIFO (raising its interrupt
    /// again if one was pending).
    pub fn from_state(irq: EventFd, state: &SerialState) -> std::io::Result<Arc<Uart>> {
        let serial = Serial::from_state(state, IrqTrigger(irq), NoEvents, Console)
            .map_err(|e| std::io::Error::other(format!("serial state: {e:?}")))?;
        Ok(Arc::new(Uart {
            serial: Mutex::new(serial),
            drained: Condvar::new(),
        }))
    }

    /// The registers and receive FIFO, for a snapshot.
    pub fn state(&self) -> SerialState {
        match self.serial.lock() {
            Ok(serial) => serial.state(),
            Err(poisoned) => poisoned.into_inner().state(),
        }
    }

    /// A guest read of `port`.
    pub fn read(&self, port: u16) -> u8 {
        let offset = (port - BASE) as u8;
        let Ok(mut serial) = self.serial.lock() else {
            return 0xff;
        };
        let value = serial.read(offset);
        if offset == DATA {
            self.drained.notify_one();
        }
        value
    }

    /// A guest write of `value` to `port`. Output errors (the harness closed our stdout)
    /// must not stop the VM, so they are dropped.
    pub fn write(&self, port: u16, value: u8) {
        if let Ok(mut serial) = self.serial.lock() {
            let _ = serial.write((port - BASE) as u8, value);
        }
    }

    /// Puts `input` into the receive FIFO, waiting while the FIFO is full.
    fn receive(&self, mut input: &[u8]) {
        let Ok(mut serial) = self.serial.lock() else {
            return;
        };
        while !input.is_empty() {
            let room = serial.fifo_capacity();
            match serial.enqueue_raw_bytes(input) {
                Ok(taken) => input = &input[taken..],
                Err(SerialError::FullFifo) => match self.drained.wait(serial) {
                    Ok(guard) => serial = guard,
                    Err(_) => return,
                },
                // The bytes are queued; only the interrupt failed. The guest may still poll.
                Err(_) => input = &input[room.min(input.len())..],
            }
        }
    }
}

/// Feeds stdin into the UART until EOF or a read error; then the thread ends (no spinning).
pub fn spawn_stdin_reader(uart: Arc<Uart>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("serial-in".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            let mut buffer = [0u8; 64];
            let mut stdin = std::io::stdin().lock();
            loop {
                match stdin.read(&mut buffer) {
                    Ok(0) => return,
                    Ok(n) => uart.receive(&buffer[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => return,
                }
            }
        })?;
    Ok(())
}
