//! The command bytes of the client protocol and what the proxy does with each. The bytes are
//! mysql_common's [`Command`] values, never literals.

use mysql_common::constants::Command;

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

/// Every command mysql_common knows, so a byte can be turned back into its [`Command`]
/// (mysql_common converts only the other way).
const COMMANDS: [Command; 34] = [
    Command::COM_SLEEP,
    Command::COM_QUIT,
    Command::COM_INIT_DB,
    Command::COM_QUERY,
    Command::COM_FIELD_LIST,
    Command::COM_CREATE_DB,
    Command::COM_DROP_DB,
    Command::COM_REFRESH,
    Command::COM_DEPRECATED_1,
    Command::COM_STATISTICS,
    Command::COM_PROCESS_INFO,
    Command::COM_CONNECT,
    Command::COM_PROCESS_KILL,
    Command::COM_DEBUG,
    Command::COM_PING,
    Command::COM_TIME,
    Command::COM_DELAYED_INSERT,
    Command::COM_CHANGE_USER,
    Command::COM_BINLOG_DUMP,
    Command::COM_TABLE_DUMP,
    Command::COM_CONNECT_OUT,
    Command::COM_REGISTER_SLAVE,
    Command::COM_STMT_PREPARE,
    Command::COM_STMT_EXECUTE,
    Command::COM_STMT_SEND_LONG_DATA,
    Command::COM_STMT_CLOSE,
    Command::COM_STMT_RESET,
    Command::COM_SET_OPTION,
    Command::COM_STMT_FETCH,
    Command::COM_DAEMON,
    Command::COM_BINLOG_DUMP_GTID,
    Command::COM_RESET_CONNECTION,
    Command::COM_END,
    Command::COM_STMT_BULK_EXECUTE,
];

/// MariaDB's COM_MULTI, which mysql_common does not list: only named in errors.
const COM_MULTI: u8 = 0xFE;

/// The command the byte `cmd` stands for, if mysql_common knows it.
pub fn command(cmd: u8) -> Option<Command> {
    COMMANDS.iter().copied().find(|c| *c as u8 == cmd)
}

/// Decides what to do with the command byte `cmd`.
pub fn action(cmd: u8) -> Action {
    match command(cmd) {
        Some(Command::COM_QUIT) => Action::Quit,
        Some(Command::COM_QUERY) => Action::Query,
        Some(Command::COM_INIT_DB | Command::COM_PING) => Action::Forward(Shape::Query),
        Some(Command::COM_FIELD_LIST) => Action::Forward(Shape::FieldList),
        Some(Command::COM_STATISTICS) => Action::Forward(Shape::Single),
        Some(Command::COM_SET_OPTION) => Action::SetOption,
        Some(Command::COM_STMT_PREPARE) => Action::Prepare,
        Some(Command::COM_STMT_EXECUTE | Command::COM_STMT_RESET) => {
            Action::Statement(Shape::Query)
        }
        Some(Command::COM_STMT_FETCH) => Action::Statement(Shape::Rows),
        Some(Command::COM_STMT_SEND_LONG_DATA | Command::COM_STMT_CLOSE) => Action::StatementSilent,
        Some(Command::COM_CHANGE_USER) => Action::ChangeUser,
        Some(Command::COM_RESET_CONNECTION) => Action::Reset,
        _ => Action::Unsupported(name(cmd)),
    }
}

/// The protocol name of a command byte (for errors and logs).
pub fn name(cmd: u8) -> &'static str {
    let Some(command) = command(cmd) else {
        return if cmd == COM_MULTI {
            "COM_MULTI"
        } else {
            "an unknown command"
        };
    };
    match command {
        Command::COM_SLEEP => "COM_SLEEP",
        Command::COM_QUIT => "COM_QUIT",
        Command::COM_INIT_DB => "COM_INIT_DB",
        Command::COM_QUERY => "COM_QUERY",
        Command::COM_FIELD_LIST => "COM_FIELD_LIST",
        Command::COM_CREATE_DB => "COM_CREATE_DB",
        Command::COM_DROP_DB => "COM_DROP_DB",
        Command::COM_REFRESH => "COM_REFRESH",
        Command::COM_DEPRECATED_1 => "COM_SHUTDOWN",
        Command::COM_STATISTICS => "COM_STATISTICS",
        Command::COM_PROCESS_INFO => "COM_PROCESS_INFO",
        Command::COM_CONNECT => "COM_CONNECT",
        Command::COM_PROCESS_KILL => "COM_PROCESS_KILL",
        Command::COM_DEBUG => "COM_DEBUG",
        Command::COM_PING => "COM_PING",
        Command::COM_TIME => "COM_TIME",
        Command::COM_DELAYED_INSERT => "COM_DELAYED_INSERT",
        Command::COM_CHANGE_USER => "COM_CHANGE_USER",
        Command::COM_BINLOG_DUMP => "COM_BINLOG_DUMP",
        Command::COM_TABLE_DUMP => "COM_TABLE_DUMP",
        Command::COM_CONNECT_OUT => "COM_CONNECT_OUT",
        Command::COM_REGISTER_SLAVE => "COM_REGISTER_SLAVE",
        Command::COM_STMT_PREPARE => "COM_STMT_PREPARE",
        Command::COM_STMT_EXECUTE => "COM_STMT_EXECUTE",
        Command::COM_STMT_SEND_LONG_DATA => "COM_STMT_SEND_LONG_DATA",
        Command::COM_STMT_CLOSE => "COM_STMT_CLOSE",
        Command::COM_STMT_RESET => "COM_STMT_RESET",
        Command::COM_SET_OPTION => "COM_SET_OPTION",
        Command::COM_STMT_FETCH => "COM_STMT_FETCH",
        Command::COM_DAEMON => "COM_DAEMON",
        Command::COM_BINLOG_DUMP_GTID => "COM_BINLOG_DUMP_GTID",
        Command::COM_RESET_CONNECTION => "COM_RESET_CONNECTION",
        // A sentinel of mysql_common's, not a command.
        Command::COM_END => "an unknown command",
        Command::COM_STMT_BULK_EXECUTE => "COM_STMT_BULK_EXECUTE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_table() {
        let byte = |c: Command| c as u8;
        assert_eq!(action(byte(Command::COM_QUERY)), Action::Query);
        assert_eq!(action(byte(Command::COM_QUIT)), Action::Quit);
        assert_eq!(
            action(byte(Command::COM_STMT_CLOSE)),
            Action::StatementSilent
        );
        assert_eq!(action(byte(Command::COM_CHANGE_USER)), Action::ChangeUser);
        assert_eq!(
            action(byte(Command::COM_PROCESS_KILL)),
            Action::Unsupported("COM_PROCESS_KILL")
        );
        assert_eq!(
            action(byte(Command::COM_BINLOG_DUMP)),
            Action::Unsupported("COM_BINLOG_DUMP")
        );
        assert_eq!(action(0x77), Action::Unsupported("an unknown command"));
    }

    /// Every byte keeps the name it had when the table was written with literals: 0x00 to
    /// 0x1F in order, then the MariaDB extensions, and nothing else.
    #[test]
    fn names_of_every_byte() {
        const IN_ORDER: [&str; 32] = [
            "COM_SLEEP",
            "COM_QUIT",
            "COM_INIT_DB",
            "COM_QUERY",
            "COM_FIELD_LIST",
            "COM_CREATE_DB",
            "COM_DROP_DB",
            "COM_REFRESH",
            "COM_SHUTDOWN",
            "COM_STATISTICS",
            "COM_PROCESS_INFO",
            "COM_CONNECT",
            "COM_PROCESS_KILL",
            "COM_DEBUG",
            "COM_PING",
            "COM_TIME",
            "COM_DELAYED_INSERT",
            "COM_CHANGE_USER",
            "COM_BINLOG_DUMP",
            "COM_TABLE_DUMP",
            "COM_CONNECT_OUT",
            "COM_REGISTER_SLAVE",
            "COM_STMT_PREPARE",
            "COM_STMT_EXECUTE",
            "COM_STMT_SEND_LONG_DATA",
            "COM_STMT_CLOSE",
            "COM_STMT_RESET",
            "COM_SET_OPTION",
            "COM_STMT_FETCH",
            "COM_DAEMON",
            "COM_BINLOG_DUMP_GTID",
            "COM_RESET_CONNECTION",
        ];
        for cmd in 0..=u8::MAX {
            let want = match cmd {
                _ if usize::from(cmd) < IN_ORDER.len() => IN_ORDER[usize::from(cmd)],
                _ if cmd == Command::COM_STMT_BULK_EXECUTE as u8 => "COM_STMT_BULK_EXECUTE",
                COM_MULTI => "COM_MULTI",
                _ => "an unknown command",
            };
            assert_eq!(name(cmd), want, "{cmd:#04x}");
        }
    }
}
