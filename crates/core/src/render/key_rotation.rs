//! `rotate-soracom-key` as text: the key replaced, where the new one is kept, what is left.

use crate::selfkey::KeyRotation;

impl KeyRotation {
    /// The result as text.
    pub fn render_text(&self) -> String {
        let mut out = format!(
            "rotated the SORACOM AuthKey of {}: {} -> {} (stored in {})\n",
            self.user, self.old_key, self.new_key, self.store
        );
        if let Some(k) = &self.earlier_key_deleted {
            out.push_str(&format!("deleted {k}, left by an earlier rotation\n"));
        }
        out.push_str(if self.old_key_deleted {
            "old key deleted\n"
        } else {
            "old key NOT deleted\n"
        });
        for k in &self.other_keys {
            out.push_str(&format!(
                "note: AuthKey {k} of this user is not the stored one; it is left alone (if \
                 nobody uses it — e.g. an interrupted run generated it — delete it by hand)\n"
            ));
        }
        if let Some(w) = &self.warning {
            out.push_str(&format!("warning: {w}\n"));
        }
        out
    }
}
