//! A bounds-checked cursor over a message body. Every read can fail; none can panic.

/// Why a read failed; the caller names the message.
pub(crate) type ReadResult<T> = Result<T, &'static str>;

#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Self {
        Reader { rest: body }
    }

    pub(crate) fn take(&mut self, n: usize) -> ReadResult<&'a [u8]> {
        if self.rest.len() < n {
            return Err("message ends early");
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> ReadResult<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> ReadResult<u8> {
        Ok(self.array::<1>()?[0])
    }
    pub(crate) fn i16(&mut self) -> ReadResult<i16> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    pub(crate) fn u16(&mut self) -> ReadResult<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub(crate) fn i32(&mut self) -> ReadResult<i32> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    pub(crate) fn u32(&mut self) -> ReadResult<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// A NUL-terminated string, without the NUL.
    pub(crate) fn cstr_bytes(&mut self) -> ReadResult<&'a [u8]> {
        let end = memchr::memchr(0, self.rest).ok_or("string without its terminating NUL")?;
        let s = self.take(end)?;
        self.take(1)?;
        Ok(s)
    }

    /// A NUL-terminated UTF-8 string.
    pub(crate) fn cstr(&mut self) -> ReadResult<&'a str> {
        core::str::from_utf8(self.cstr_bytes()?).map_err(|_| "string is not valid UTF-8")
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.rest)
    }

    pub(crate) fn finish(&self) -> ReadResult<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err("unexpected bytes at the end of the message")
        }
    }
}
