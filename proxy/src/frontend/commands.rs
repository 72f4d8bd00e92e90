//! The command bytes of the client protocol and what the proxy does with each.

use crate::relay::Shape;

/// What the session does with a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Close the session (COM_QUIT).
    Quit,
    /// COM_QUERY: KILL with a proxy id is mapped, session SETs are recorded, the rest is
    /// forwarded.
    Query,
    /// Forward to the backend and relay an answer of this shape.
    Forward(Shape),
    /// COM_SET_OPTION: forwarded and recorded for replay.
    SetOption,
    /// COM_STMT_PREPARE: forwarded; the client sees a proxy statement id.
    Prepare,
    /// A command on a prepared statement (EXECUTE, RESET, FETCH): id mapped, re-prepared
    /// if needed, forwarded, answer of this shape relayed.
    Statement(Shape),
    /// A statement command without an answer (SEND_LONG_DATA, CLOSE).
    StatementSilent,
    /// COM_CHANGE_USER: re-authenticate and start the session over.
    ChangeUser,
    /// Reset the session and its backend connection (COM_RESET_CONNECTION).
    Reset,
    /// Not implemented: answer 1047 naming it.
    Unsupported(&'static str),
}

/// Decides what to do with the command byte `cmd`.
pub fn action(cmd: u8) -> Action {
    match cmd {
        0x01 => Action::Quit,
        0x03 => Action::Query,
        0x02 | 0x0E => Action::Forward(Shape::Query),
        0x04 => Action::Forward(Shape::FieldList),
        0x09 => Action::Forward(Shape::Single),
        0x1B => Action::SetOption,
        0x16 => Action::Prepare,
        0x17 | 0x1A => Action::Statement(Shape::Query),
        0x1C => Action::Statement(Shape::Rows),
        0x18 | 0x19 => Action::StatementSilent,
        0x11 => Action::ChangeUser,
        0x1F => Action::Reset,
        other => Action::Unsupported(name(other)),
    }
}

/// The protocol name of a command byte (for errors and logs).
pub fn name(cmd: u8) -> &'static str {
    match cmd {
        0x00 => "COM_SLEEP",
        0x01 => "COM_QUIT",
        0x02 => "COM_INIT_DB",
        0x03 => "COM_QUERY",
        0x04 => "COM_FIELD_LIST",
        0x05 => "COM_CREATE_DB",
        0x06 => "COM_DROP_DB",
        0x07 => "COM_REFRESH",
        0x08 => "COM_SHUTDOWN",
        0x09 => "COM_STATISTICS",
        0x0A => "COM_PROCESS_INFO",
        0x0B => "COM_CONNECT",
        0x0C => "COM_PROCESS_KILL",
        0x0D => "COM_DEBUG",
        0x0E => "COM_PING",
        0x0F => "COM_TIME",
        0x10 => "COM_DELAYED_INSERT",
        0x11 => "COM_CHANGE_USER",
        0x12 => "COM_BINLOG_DUMP",
        0x13 => "COM_TABLE_DUMP",
        0x14 => "COM_CONNECT_OUT",
        0x15 => "COM_REGISTER_SLAVE",
        0x16 => "COM_STMT_PREPARE",
        0x17 => "COM_STMT_EXECUTE",
        0x18 => "COM_STMT_SEND_LONG_DATA",
        0x19 => "COM_STMT_CLOSE",
        0x1A => "COM_STMT_RESET",
        0x1B => "COM_SET_OPTION",
        0x1C => "COM_STMT_FETCH",
        0x1D => "COM_DAEMON",
        0x1E => "COM_BINLOG_DUMP_GTID",
        0x1F => "COM_RESET_CONNECTION",
        0xFA => "COM_STMT_BULK_EXECUTE",
        0xFE => "COM_MULTI",
        _ => "an unknown command",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_table() {
        assert_eq!(action(0x03), Action::Query);
        assert_eq!(action(0x01), Action::Quit);
        assert_eq!(action(0x19), Action::StatementSilent);
        assert_eq!(action(0x11), Action::ChangeUser);
        assert_eq!(action(0x0C), Action::Unsupported("COM_PROCESS_KILL"));
        assert_eq!(action(0x12), Action::Unsupported("COM_BINLOG_DUMP"));
        assert_eq!(action(0x77), Action::Unsupported("an unknown command"));
    }
}
