"""Channels that reach people away from a PC: e-mail, webhook/SMS, ESPA 4.4.4 paging, Web Push."""
