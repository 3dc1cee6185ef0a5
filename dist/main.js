import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as m}from"./chunks/chunk-YRXFR5ZD.js";import{g as r}from"./chunks/chunk-24LI6YUG.js";import"./chunks/chunk-4ZNUHAJJ.js";import"./chunks/chunk-6OPTRATG.js";import"./chunks/chunk-67BG23Y2.js";await m(()=>r());
