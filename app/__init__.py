"""The application: main window, actions, state and wiring (Qt)."""
