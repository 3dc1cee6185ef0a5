import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as o,c as t,d as m}from"./chunks/chunk-7VSY6U53.js";import"./chunks/chunk-GF4QTGMA.js";import{m as r}from"./chunks/chunk-T6CCLYWV.js";import"./chunks/chunk-UIW3NJTR.js";import"./chunks/chunk-67BG23Y2.js";var i=o(process.env);r(i);await m(i,()=>t());
