"""Speech shared by HQ and edge: Vietnamese text normalisation and the TTS engine chain.

HQ renders a bulletin once with the same chain the nodes fall back to, so both sides import this
package rather than keeping copies.
"""
