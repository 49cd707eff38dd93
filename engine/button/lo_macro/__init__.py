"""The LibreOffice macro file, copied into the user profile by ``anju button install-libreoffice``
(a package only so that the file is part of the wheel)."""
