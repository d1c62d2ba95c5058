"""The inspect report's defaults, in a module without torch so the command line can show them cheaply."""

MAX_CHARS = 20_000  # tokens (characters of a char model) shown in the page; the analysis reads the whole text
SAMPLE_LENGTH = 1_000  # tokens generated after --prime
