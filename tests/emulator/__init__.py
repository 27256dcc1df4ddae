"""Tests of the local Coveo emulator, over real HTTP."""
