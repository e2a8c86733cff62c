//! Size limits that bound the work and memory a single message can cost.

/// Limits applied by [`Message::parse_with`](crate::Message::parse_with) and
/// [`framing::check_with`](crate::framing::check_with). Defaults suit a UA
/// or proxy; raise them deliberately, never to "unlimited".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Largest whole message (head plus body), in bytes.
    pub max_message_size: usize,
    /// Largest header section (start line to blank line), in bytes.
    pub max_head_size: usize,
    /// Most header lines.
    pub max_headers: usize,
    /// Longest single line, folds included.
    pub max_line_length: usize,
    /// Most Via values.
    pub max_vias: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_message_size: 256 * 1024,
            max_head_size: 64 * 1024,
            max_headers: 256,
            max_line_length: 16 * 1024,
            max_vias: 70,
        }
    }
}
