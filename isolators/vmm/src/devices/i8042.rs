//! Just enough i8042 for a guest to reset the machine (0xFE on the command port) and for
//! Linux's probe to find nothing plugged in.

pub const DATA_PORT: u16 = 0x60;
pub const COMMAND_PORT: u16 = 0x64;
/// "Pulse the reset line": the guest wants to reboot, which ends the VM.
const CMD_RESET: u8 = 0xFE;

/// The value a read of `port` returns: status 0 (no data, input buffer empty), data 0.
pub fn read(_port: u16) -> u8 {
    0
}

/// True when the write asks for a reset.
pub fn write_is_reset(port: u16, value: u8) -> bool {
    port == COMMAND_PORT && value == CMD_RESET
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_0xfe_on_the_command_port_resets() {
        assert!(write_is_reset(COMMAND_PORT, 0xFE));
        assert!(!write_is_reset(DATA_PORT, 0xFE));
        assert!(!write_is_reset(COMMAND_PORT, 0xAD));
        assert_eq!(read(COMMAND_PORT), 0);
    }
}
