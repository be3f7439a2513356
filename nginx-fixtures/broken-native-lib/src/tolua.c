/* Stand-in for libtolua++.so: only its name matters, it is left out of the fixture on purpose. */
const char *tolua_version(void)
{
    return "tolua++ 1.0.93";
}
