"""The UI's data layer: plain dicts built from stepline's library, one function per page.

Every page renders one of these dicts, and its JSON twin returns the same dict, so what a script
reads is what a person sees. Nothing here knows about HTTP or HTML.
"""
