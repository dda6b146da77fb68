"""stepline's version, kept below everything so any module can name it without the facade."""

__version__ = "0.1.0"
