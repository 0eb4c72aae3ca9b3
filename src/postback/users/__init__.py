"""Dashboard users (admin or viewer) and their sign-in sessions."""
