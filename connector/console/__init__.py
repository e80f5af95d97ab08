"""The web console: server-rendered pages on the management listener for the people who run a node.

It signs an operator in with the management API key (kept on the server: the browser holds a session cookie)
and does everything through the management API itself (`api.NodeApi`), so that it shows exactly what the API
answers and can do nothing an API client could not. No JavaScript is needed; a little improves it.
"""
