"""Websocket consumers: thin — parse, authorize, call one service, respond."""
