"""The key footer, fitted to the terminal: at 80 columns every screen's keys still show.

Below WIDE columns the keys are packed closer (Textual's compact style); below ROOMY the `^p palette`
hint at the right edge gives its place to them (ctrl+p still opens the palette).
"""

from __future__ import annotations

from textual import events
from textual.widgets import Footer

WIDE = 120
ROOMY = 100


class FitFooter(Footer):
    def on_resize(self, event: events.Resize) -> None:
        width = self.app.size.width
        compact, palette = width < WIDE, width >= ROOMY
        if (compact, palette) != (self.compact, self.show_command_palette):
            self.compact = compact
            self.show_command_palette = palette
            self.refresh(recompose=True)
