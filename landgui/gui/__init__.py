"""Qt widgets of landgui: one module per tab, wired together by main_window."""
