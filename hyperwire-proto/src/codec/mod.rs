//! The wire codec: encoders for client messages, a zero-copy decoder for server messages.

mod backend;
mod fields;
pub mod frontend;
mod reader;
mod row;

pub use backend::{
    decode, message_name, Authentication, BackendMessage, CopyResponse, Header, ParameterTypes,
    StrList, TransactionStatus, HEADER_LEN,
};
pub use fields::{ErrorFieldIter, ErrorFields};
pub use frontend::{Format, ProtocolVersion, Target, MAX_CANCEL_KEY_LEN};
pub use row::{Columns, DataRow, FieldDescription, Fields, RowDescription};
